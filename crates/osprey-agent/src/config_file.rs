//! The agent's configuration file (TOML): the settings of its flags, named as the flags with
//! `_` for `-` (`data_dir`, `max_line_bytes`, …). A flag or an environment variable wins over
//! the file, and the file over the defaults; a key the agent does not know is an error that
//! names it, so a typo does not go unnoticed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What a configuration file may set.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the flags of `osprey agent --help`, one for one
pub struct AgentFile {
    pub server: Option<String>,
    pub paths: Option<Vec<String>>,
    pub data_dir: Option<PathBuf>,
    pub index: Option<String>,
    pub from_tail: Option<bool>,
    pub max_line_bytes: Option<usize>,
    pub buffer_max_mib: Option<u64>,
    pub compression: Option<String>,
    pub protocol: Option<String>,
    pub kubernetes: Option<bool>,
    pub kube_api: Option<String>,
    pub node_name: Option<String>,
    pub spans_to: Option<String>,
    pub jaeger_compact_addr: Option<String>,
    pub jaeger_binary_addr: Option<String>,
    pub otlp_http_addr: Option<String>,
    pub zipkin_addr: Option<String>,
    pub sampling_from: Option<String>,
    pub sampling_addr: Option<String>,
    pub log: Option<String>,
}

impl AgentFile {
    /// Reads `path`; the error says which file and, for bad TOML or an unknown key, where.
    pub fn load(path: &Path) -> Result<AgentFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the agent configuration {}: {e}",
                path.display()
            )
        })?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_flags_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "server = \"http://osprey:7800\"\npaths = [\"/var/log/pods/*/*/*.log\"]\nmax_line_bytes = 1024\n",
        )
        .unwrap();
        let file = AgentFile::load(&path).unwrap();
        assert_eq!(file.server.as_deref(), Some("http://osprey:7800"));
        assert_eq!(file.paths.unwrap(), ["/var/log/pods/*/*/*.log"]);
        assert_eq!(file.max_line_bytes, Some(1024));
        std::fs::write(&path, "server = \"x\"\nmax_line_byte = 3\n").unwrap();
        let error = AgentFile::load(&path).unwrap_err();
        assert!(
            error.contains("max_line_byte") && error.contains("agent.toml"),
            "{error}"
        );
    }
}
