//! Kubernetes metadata from the API server: a cached watch (list, then watch; relisted after
//! errors with backoff, by `kube::runtime::watcher`) of the pods on this node. Lookups never
//! wait for the API server: a pod it has not (yet) told about gets only what its log file's
//! name says, and lines are not held back.
//!
//! Field names follow Fluentd's kubernetes_metadata filter, which Kibana users already query:
//! `kubernetes.pod_id`, `host`, `container_image`, `container_image_id`, `labels.*` and
//! `annotations.*` with dots in keys replaced by `_` (the filter's `de_dot` default:
//! `app.kubernetes.io/name` → `app_kubernetes_io/name`).
//!
//! Namespaces are watched too (all of them, they are few): `kubernetes.namespace_id` and
//! `kubernetes.namespace_labels.*`, as the filter adds them.
//!
//! Pods can steer the agent with annotations: `osprey.io/exclude: "true"` drops their lines.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Map, Value, json};

/// The annotation that drops a pod's lines.
pub const EXCLUDE_ANNOTATION: &str = "osprey.io/exclude";
/// The annotation that chooses how a pod's lines are parsed (`json`, `logfmt`, `plain`);
/// `osprey.io/parser-<container>` for one container.
pub const PARSER_ANNOTATION: &str = "osprey.io/parser";

/// What the API server says about one pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodMeta {
    /// Pod uid.
    pub uid: String,
    /// The node it runs on.
    pub node: String,
    /// Labels, keys de-dotted.
    pub labels: Map<String, Value>,
    /// Annotations, keys de-dotted.
    pub annotations: Map<String, Value>,
    /// Whether `osprey.io/exclude` is `"true"`.
    pub excluded: bool,
    /// Per container name: image and image id.
    pub containers: HashMap<String, (String, String)>,
    /// `osprey.io/parser` and `osprey.io/parser-<container>` annotations, as written.
    pub parsers: HashMap<String, String>,
    /// The pod's own addresses: none for a pod on the node's network, whose address is the
    /// node's and tells nothing about which pod sent a span.
    pub ips: Vec<IpAddr>,
    /// Succeeded or Failed: its address may already be another pod's.
    pub finished: bool,
}

impl PodMeta {
    fn from_pod(pod: &Pod) -> Option<((String, String), PodMeta)> {
        let metadata = &pod.metadata;
        let key = (metadata.namespace.clone()?, metadata.name.clone()?);
        let de_dot =
            |map: &Option<std::collections::BTreeMap<String, String>>| -> Map<String, Value> {
                map.iter()
                    .flatten()
                    .map(|(k, v)| (k.replace('.', "_"), Value::String(v.clone())))
                    .collect()
            };
        let mut containers = HashMap::new();
        if let Some(spec) = &pod.spec {
            for container in spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
            {
                containers.insert(
                    container.name.clone(),
                    (container.image.clone().unwrap_or_default(), String::new()),
                );
            }
        }
        if let Some(status) = &pod.status {
            for container in status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten())
            {
                containers.insert(
                    container.name.clone(),
                    (container.image.clone(), container.image_id.clone()),
                );
            }
        }
        let parsers = metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(key, _)| key.starts_with(PARSER_ANNOTATION))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let excluded = metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EXCLUDE_ANNOTATION))
            .is_some_and(|v| v == "true");
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let status = pod.status.as_ref();
        let ips = if host_network {
            Vec::new()
        } else {
            status
                .and_then(|s| s.pod_ips.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|ip| ip.ip)
                .chain(status.and_then(|s| s.pod_ip.clone()))
                .filter_map(|ip| ip.parse().ok())
                .fold(Vec::new(), |mut ips, ip| {
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                    ips
                })
        };
        let finished = status
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| matches!(phase, "Succeeded" | "Failed"));
        Some((
            key,
            PodMeta {
                uid: metadata.uid.clone().unwrap_or_default(),
                node: pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default(),
                labels: de_dot(&metadata.labels),
                annotations: de_dot(&metadata.annotations),
                excluded,
                containers,
                parsers,
                ips,
                finished,
            },
        ))
    }

    /// The parser the pod's annotations choose for `container`, if any.
    pub fn parser_for(&self, container: &str) -> Option<&str> {
        self.parsers
            .get(&format!("{PARSER_ANNOTATION}-{container}"))
            .or_else(|| self.parsers.get(PARSER_ANNOTATION))
            .map(String::as_str)
    }

    /// Adds what it knows to a document's `kubernetes` object.
    pub fn enrich(&self, kubernetes: &mut Value, container_name: &str) {
        let Some(object) = kubernetes.as_object_mut() else {
            return;
        };
        object.insert("pod_id".into(), json!(self.uid));
        if !self.node.is_empty() {
            object.insert("host".into(), json!(self.node));
        }
        if !self.labels.is_empty() {
            object.insert("labels".into(), Value::Object(self.labels.clone()));
        }
        if !self.annotations.is_empty() {
            object.insert(
                "annotations".into(),
                Value::Object(self.annotations.clone()),
            );
        }
        if let Some((image, image_id)) = self.containers.get(container_name) {
            object.insert("container_image".into(), json!(image));
            if !image_id.is_empty() {
                object.insert("container_image_id".into(), json!(image_id));
            }
        }
    }
}

/// Pods by (namespace, name).
type Pods = HashMap<(String, String), PodMeta>;

/// What the API server says about one namespace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamespaceMeta {
    /// Its uid.
    pub uid: String,
    /// Labels, keys de-dotted.
    pub labels: Map<String, Value>,
}

impl NamespaceMeta {
    /// Adds `namespace_id` and `namespace_labels` to a document's `kubernetes` object.
    pub fn enrich(&self, kubernetes: &mut Value) {
        let Some(object) = kubernetes.as_object_mut() else {
            return;
        };
        object.insert("namespace_id".into(), json!(self.uid));
        if !self.labels.is_empty() {
            object.insert(
                "namespace_labels".into(),
                Value::Object(self.labels.clone()),
            );
        }
    }
}

/// The pods of this node, as last heard from the API server.
#[derive(Debug, Clone, Default)]
pub struct PodCache {
    pods: Arc<RwLock<Pods>>,
    /// The pods of a relist in progress: they replace the cache when it is complete, so that
    /// pods deleted while the watch was down are forgotten.
    relist: Arc<RwLock<Option<Pods>>>,
    namespaces: Arc<RwLock<HashMap<String, NamespaceMeta>>>,
    namespaces_relist: Arc<RwLock<Option<HashMap<String, NamespaceMeta>>>>,
    /// Counts changes, so that what was made from the cache knows when to make it again.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl PodCache {
    /// The pod `namespace/name`, if the API server told about it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<PodMeta> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// The pod that sent from `ip` (the source address of a span), as (namespace, name, what
    /// is known): a pod still running is preferred over a finished one that had the address.
    pub fn by_ip(&self, ip: IpAddr) -> Option<(String, String, PodMeta)> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.iter()
            .filter(|(_, pod)| pod.ips.contains(&ip))
            .min_by_key(|(_, pod)| pod.finished)
            .map(|((namespace, name), pod)| (namespace.clone(), name.clone(), pod.clone()))
    }

    /// Changes so far: a value different from the last one seen means pods changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The namespace `name`, if the API server told about it.
    pub fn namespace(&self, name: &str) -> Option<NamespaceMeta> {
        let namespaces = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        namespaces.get(name).cloned()
    }

    fn apply_namespace(&self, event: Event<Namespace>) {
        let meta = |ns: &Namespace| {
            let name = ns.metadata.name.clone()?;
            let labels = ns
                .metadata
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.replace('.', "_"), Value::String(v.clone())))
                .collect();
            Some((
                name,
                NamespaceMeta {
                    uid: ns.metadata.uid.clone().unwrap_or_default(),
                    labels,
                },
            ))
        };
        {
            let mut relist = self
                .namespaces_relist
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let mut namespaces = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
            match event {
                Event::Init => *relist = Some(HashMap::new()),
                Event::InitApply(ns) => {
                    if let Some((name, meta)) = meta(&ns) {
                        namespaces.insert(name.clone(), meta.clone());
                        relist.get_or_insert_with(HashMap::new).insert(name, meta);
                    }
                }
                Event::InitDone => {
                    if let Some(listed) = relist.take() {
                        *namespaces = listed;
                    }
                }
                Event::Apply(ns) => {
                    if let Some((name, meta)) = meta(&ns) {
                        namespaces.insert(name, meta);
                    }
                }
                Event::Delete(ns) => {
                    if let Some(name) = ns.metadata.name {
                        namespaces.remove(&name);
                    }
                }
            }
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn apply(&self, event: Event<Pod>) {
        self.apply_event(event);
        // After the change: whoever sees the new generation sees the new pods.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn apply_event(&self, event: Event<Pod>) {
        let mut relist = self.relist.write().unwrap_or_else(|e| e.into_inner());
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Init => *relist = Some(HashMap::new()),
            Event::InitApply(pod) => {
                if let Some((key, meta)) = PodMeta::from_pod(&pod) {
                    // Known at once (lines need it now), and kept by the relist.
                    pods.insert(key.clone(), meta.clone());
                    relist.get_or_insert_with(HashMap::new).insert(key, meta);
                }
            }
            Event::InitDone => {
                if let Some(listed) = relist.take() {
                    *pods = listed;
                }
            }
            Event::Apply(pod) => {
                if let Some((key, meta)) = PodMeta::from_pod(&pod) {
                    pods.insert(key, meta);
                }
            }
            Event::Delete(pod) => {
                if let (Some(ns), Some(name)) = (pod.metadata.namespace, pod.metadata.name) {
                    pods.remove(&(ns, name));
                }
            }
        }
    }

    /// Watches the pods of `node` (all pods when `None`) through the API server at `api_url`
    /// (in-cluster configuration or the kubeconfig when `None`), on a thread of its own, for
    /// as long as the process lives. Failures are logged and retried with backoff.
    pub fn watch(api_url: Option<String>, node: Option<String>) -> std::io::Result<PodCache> {
        let cache = PodCache::default();
        let updated = cache.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("kube-watch".into())
            .spawn(move || runtime.block_on(updated.run(api_url, node)))?;
        Ok(cache)
    }

    async fn run(self, api_url: Option<String>, node: Option<String>) {
        let config = match api_url {
            Some(url) => match url.parse() {
                Ok(uri) => Ok(kube::Config::new(uri)),
                Err(e) => Err(format!("{url}: {e}")),
            },
            None => kube::Config::infer().await.map_err(|e| e.to_string()),
        };
        let client = match config.and_then(|c| kube::Client::try_from(c).map_err(|e| e.to_string()))
        {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "no Kubernetes API: lines carry what their file names tell");
                return;
            }
        };
        let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
        let pods: kube::Api<Pod> = kube::Api::all(client);
        let mut config = watcher::Config::default();
        if let Some(node) = &node {
            config = config.fields(&format!("spec.nodeName={node}"));
        }
        let watch_pods = async {
            let mut stream = std::pin::pin!(watcher::watcher(pods, config).default_backoff());
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) => self.apply(event),
                    Ok(None) => return,
                    Err(error) => tracing::warn!(%error, "watching pods failed; retrying"),
                }
            }
        };
        let watch_namespaces = async {
            let mut stream = std::pin::pin!(
                watcher::watcher(namespaces, watcher::Config::default()).default_backoff()
            );
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) => self.apply_namespace(event),
                    Ok(None) => return,
                    Err(error) => tracing::warn!(%error, "watching namespaces failed; retrying"),
                }
            }
        };
        futures::join!(watch_pods, watch_namespaces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, phase: &str, host_network: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
            "spec": {"nodeName": "node-1", "hostNetwork": host_network,
                     "containers": [{"name": "app", "image": "shop/app:1"}]},
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}, {"ip": "fd00::7"}]}
        }))
        .expect("a pod")
    }

    #[test]
    fn a_sender_is_found_by_its_pod_ip_and_running_pods_win() {
        let cache = PodCache::default();
        cache.apply(Event::Apply(pod("done", "10.1.0.7", "Succeeded", false)));
        cache.apply(Event::Apply(pod("web", "10.1.0.7", "Running", false)));
        cache.apply(Event::Apply(pod("agent", "10.0.0.1", "Running", true)));
        let (namespace, name, meta) = cache.by_ip("10.1.0.7".parse().unwrap()).expect("found");
        assert_eq!((namespace.as_str(), name.as_str()), ("shop", "web"));
        assert_eq!(meta.uid, "uid-web");
        assert_eq!(cache.by_ip("fd00::7".parse().unwrap()).unwrap().1, "web");
        // A pod on the node's network shares the node's address: it identifies no one.
        assert!(cache.by_ip("10.0.0.1".parse().unwrap()).is_none());
        cache.apply(Event::Delete(pod("web", "10.1.0.7", "Running", false)));
        assert_eq!(cache.by_ip("10.1.0.7".parse().unwrap()).unwrap().1, "done");
    }
}
