//! What a container log file's path tells: the kubelet names them
//!
//! - `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log` (symlinks), and
//! - `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log`.
//!
//! Pod names are DNS subdomains (no `_`), namespaces and container names DNS labels, so `_`
//! separates the parts unambiguously; the container id is the 64 hex digits after the last `-`.
//! This is what lines carry when the Kubernetes API is away (or not used at all).

use std::path::Path;

/// The container a log file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerRef {
    /// Pod name.
    pub pod_name: String,
    /// Namespace.
    pub namespace: String,
    /// Container name.
    pub container_name: String,
    /// Container id (from `/var/log/containers` names).
    pub container_id: Option<String>,
    /// Pod uid (from `/var/log/pods` paths).
    pub pod_uid: Option<String>,
    /// Restart count (from `/var/log/pods` file names).
    pub restart_count: Option<u32>,
}

/// The container of a kubelet-named log file, or `None` for other files.
pub fn parse(path: &Path) -> Option<ContainerRef> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_suffix(".log")?;
    // /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log
    if let Ok(restart_count) = stem.parse::<u32>() {
        let container = path.parent()?;
        let pod_dir = container.parent()?.file_name()?.to_str()?;
        let mut parts = pod_dir.splitn(3, '_');
        let (namespace, pod_name, uid) = (parts.next()?, parts.next()?, parts.next()?);
        let container_name = container.file_name()?.to_str()?;
        if [namespace, pod_name, uid, container_name]
            .iter()
            .any(|p| p.is_empty())
        {
            return None;
        }
        return Some(ContainerRef {
            pod_name: pod_name.into(),
            namespace: namespace.into(),
            container_name: container_name.into(),
            container_id: None,
            pod_uid: Some(uid.into()),
            restart_count: Some(restart_count),
        });
    }
    // /var/log/containers/<pod>_<ns>_<container>-<id>.log
    let (rest, container_id) = stem.rsplit_once('-')?;
    if container_id.len() != 64 || !container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut parts = rest.splitn(3, '_');
    let (pod_name, namespace, container_name) = (parts.next()?, parts.next()?, parts.next()?);
    if [pod_name, namespace, container_name]
        .iter()
        .any(|p| p.is_empty())
    {
        return None;
    }
    Some(ContainerRef {
        pod_name: pod_name.into(),
        namespace: namespace.into(),
        container_name: container_name.into(),
        container_id: Some(container_id.into()),
        pod_uid: None,
        restart_count: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_kubelet_layouts() {
        let id = "a".repeat(64);
        let path = format!("/var/log/containers/web-7d4b9c-x2x_shop_nginx-{id}.log");
        let parsed = parse(Path::new(&path)).expect("containers path");
        assert_eq!(parsed.pod_name, "web-7d4b9c-x2x");
        assert_eq!(parsed.namespace, "shop");
        assert_eq!(parsed.container_name, "nginx");
        assert_eq!(parsed.container_id.as_deref(), Some(id.as_str()));
        let parsed = parse(Path::new(
            "/var/log/pods/shop_web-7d4b9c-x2x_0f5e-11aa/nginx/3.log",
        ))
        .expect("pods path");
        assert_eq!(parsed.pod_name, "web-7d4b9c-x2x");
        assert_eq!(parsed.pod_uid.as_deref(), Some("0f5e-11aa"));
        assert_eq!(parsed.container_name, "nginx");
        assert_eq!(parsed.restart_count, Some(3));
        for other in [
            "/var/log/syslog",
            "/var/log/containers/x.log",
            "/var/log/containers/a_b-c.log",
            "0.log",
        ] {
            assert_eq!(parse(Path::new(other)), None, "{other}");
        }
    }

    proptest! {
        #[test]
        fn names_round_trip(pod in "[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", ns in "[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?",
                            container in "[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", id in "[0-9a-f]{64}") {
            let path = format!("/var/log/containers/{pod}_{ns}_{container}-{id}.log");
            let parsed = parse(Path::new(&path)).expect("parses");
            prop_assert_eq!(parsed.pod_name, pod);
            prop_assert_eq!(parsed.namespace, ns);
            prop_assert_eq!(parsed.container_name, container);
        }

        #[test]
        fn arbitrary_paths_never_panic(path in ".{0,80}") {
            let _ = parse(Path::new(&path));
        }
    }
}
