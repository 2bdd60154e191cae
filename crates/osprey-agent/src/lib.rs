//! The node agent's parts: container log line formats (`format`: Docker `json-file` and
//! CRI, partial lines reassembled) and what a log file's path tells about its container
//! (`k8s_path`) and what the API server says (`kube_meta`), following files through rotation with checkpoints (`tail`), lines to
//! documents (`pipeline`, stack traces merged by `multiline`), delivery over `_bulk` (`ship`, with the batch in flight written down by `ledger` so that none is stored twice) and the loop tying them together
//! (`run`); span forwarding and sampling strategies in the Jaeger agent's place (`spans`, OTLP/HTTP and Zipkin `receivers`, `sampling`). Every parser of untrusted input is property-tested.

#![warn(missing_docs)]

pub mod buffer;
pub mod config_file;
pub mod format;
pub mod k8s_path;
pub mod kube_meta;
pub mod ledger;
pub mod logfmt;
pub mod multiline;
pub mod otlp_out;
pub mod pipeline;
pub mod receivers;
pub mod run;
pub mod sampling;
pub mod ship;
pub mod spans;
pub mod tail;
pub mod time;
