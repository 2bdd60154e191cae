//! The listener table: every network endpoint Osprey can serve, its default address and the
//! environment variable that overrides it. This table is a contract shared with scripts,
//! manifests and later features; names and defaults do not change.

use std::fmt;

/// Transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP (HTTP or gRPC).
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// One row of the listener table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Listener {
    /// UI, native API, `/health`, `/metrics`.
    Http,
    /// Elasticsearch-compatible API.
    Elastic,
    /// OTLP over gRPC.
    OtlpGrpc,
    /// OTLP over HTTP.
    OtlpHttp,
    /// Jaeger query HTTP API.
    JaegerQuery,
    /// Jaeger collector gRPC (api_v2).
    JaegerGrpc,
    /// Jaeger collector Thrift over HTTP.
    JaegerHttp,
    /// Jaeger agent Thrift compact (UDP).
    JaegerCompact,
    /// Jaeger agent Thrift binary (UDP).
    JaegerBinary,
    /// Jaeger sampling strategies.
    Sampling,
    /// Zipkin v2.
    Zipkin,
    /// Fluentd forward protocol.
    Forward,
}

impl Listener {
    /// Every listener, in table order.
    pub const ALL: [Listener; 12] = [
        Listener::Http,
        Listener::Elastic,
        Listener::OtlpGrpc,
        Listener::OtlpHttp,
        Listener::JaegerQuery,
        Listener::JaegerGrpc,
        Listener::JaegerHttp,
        Listener::JaegerCompact,
        Listener::JaegerBinary,
        Listener::Sampling,
        Listener::Zipkin,
        Listener::Forward,
    ];

    /// The NAME of the table (`OSPREY_<NAME>_ADDR`).
    pub fn name(self) -> &'static str {
        match self {
            Listener::Http => "HTTP",
            Listener::Elastic => "ELASTIC",
            Listener::OtlpGrpc => "OTLP_GRPC",
            Listener::OtlpHttp => "OTLP_HTTP",
            Listener::JaegerQuery => "JAEGER_QUERY",
            Listener::JaegerGrpc => "JAEGER_GRPC",
            Listener::JaegerHttp => "JAEGER_HTTP",
            Listener::JaegerCompact => "JAEGER_COMPACT",
            Listener::JaegerBinary => "JAEGER_BINARY",
            Listener::Sampling => "SAMPLING",
            Listener::Zipkin => "ZIPKIN",
            Listener::Forward => "FORWARD",
        }
    }

    /// Key in the config file's `[listeners]` table.
    pub fn config_key(self) -> String {
        self.name().to_ascii_lowercase()
    }

    /// The environment variable.
    pub fn env_var(self) -> String {
        format!("OSPREY_{}_ADDR", self.name())
    }

    /// Default port.
    pub fn default_port(self) -> u16 {
        match self {
            Listener::Http => 7800,
            Listener::Elastic => 9200,
            Listener::OtlpGrpc => 4317,
            Listener::OtlpHttp => 4318,
            Listener::JaegerQuery => 16686,
            Listener::JaegerGrpc => 14250,
            Listener::JaegerHttp => 14268,
            Listener::JaegerCompact => 6831,
            Listener::JaegerBinary => 6832,
            Listener::Sampling => 5778,
            Listener::Zipkin => 9411,
            Listener::Forward => 24224,
        }
    }

    /// Default address: loopback only (Kubernetes manifests bind all interfaces).
    pub fn default_addr(self) -> String {
        format!("127.0.0.1:{}", self.default_port())
    }

    /// TCP or UDP.
    pub fn transport(self) -> Transport {
        match self {
            Listener::JaegerCompact | Listener::JaegerBinary => Transport::Udp,
            _ => Transport::Tcp,
        }
    }

    /// What it serves, for `--help` and docs.
    pub fn serves(self) -> &'static str {
        match self {
            Listener::Http => "UI, native API, GET /health, GET /metrics",
            Listener::Elastic => "Elasticsearch-compatible API",
            Listener::OtlpGrpc => "OTLP traces and logs over gRPC",
            Listener::OtlpHttp => "OTLP traces and logs over HTTP",
            Listener::JaegerQuery => "Jaeger query HTTP API",
            Listener::JaegerGrpc => "Jaeger collector, gRPC api_v2",
            Listener::JaegerHttp => "Jaeger collector, Thrift over HTTP",
            Listener::JaegerCompact => "Jaeger agent, Thrift compact over UDP",
            Listener::JaegerBinary => "Jaeger agent, Thrift binary over UDP",
            Listener::Sampling => "Jaeger sampling strategies",
            Listener::Zipkin => "Zipkin v2",
            Listener::Forward => "Fluentd forward protocol",
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_the_contract() {
        let rows: Vec<(String, u16)> = Listener::ALL
            .iter()
            .map(|l| (l.env_var(), l.default_port()))
            .collect();
        assert_eq!(rows[0], ("OSPREY_HTTP_ADDR".to_string(), 7800));
        assert_eq!(rows[1], ("OSPREY_ELASTIC_ADDR".to_string(), 9200));
        assert!(rows.contains(&("OSPREY_JAEGER_COMPACT_ADDR".to_string(), 6831)));
        assert!(rows.contains(&("OSPREY_FORWARD_ADDR".to_string(), 24224)));
        assert_eq!(Listener::JaegerBinary.transport(), Transport::Udp);
    }
}
