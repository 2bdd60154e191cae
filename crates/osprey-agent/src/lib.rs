//! The node agent's pure parts: container log line formats (`format`: Docker `json-file` and
//! CRI, partial lines reassembled) and what a log file's path tells about its container
//! (`k8s_path`). No I/O here: every parser of untrusted input is property-tested and fuzzed.

#![warn(missing_docs)]

pub mod format;
pub mod k8s_path;
