//! The node agent's parts: container log line formats (`format`: Docker `json-file` and
//! CRI, partial lines reassembled) and what a log file's path tells about its container
//! (`k8s_path`), and following files through rotation with checkpoints (`tail`). Every parser
//! of untrusted input is property-tested.

#![warn(missing_docs)]

pub mod format;
pub mod k8s_path;
pub mod pipeline;
pub mod tail;
