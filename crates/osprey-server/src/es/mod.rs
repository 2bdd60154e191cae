//! The Elasticsearch-compatible API (ELASTIC listener): enough of Elasticsearch 8 that shippers
//! (Fluentd, Fluent Bit, rsyslog, Logstash), the official clients, Grafana and Kibana-style
//! tools work unchanged.

mod error;
mod filter_path;
mod search;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use osprey_ingest::{BulkItem, BulkOp, check_object, decode_bulk};
use osprey_model::IndexName;
use osprey_query::QueryAst;
use osprey_store::{ItemOutcome, LiveIndex, Op, Store, StoredDoc, WriteItem};
use serde_json::{Map, Value, json};

pub use error::{EsError, EsResult};

use crate::AppState;

type Params = Query<HashMap<String, String>>;

/// The version Osprey reports: clients check the major version.
pub const COMPATIBLE_VERSION: &str = "8.11.0";

/// Routes of the ELASTIC listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(info).head(|| async { StatusCode::OK }))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route("/_search", get(search_all).post(search_all))
        .route("/_msearch", get(msearch_all).post(msearch_all))
        .route("/_count", get(count_all).post(count_all))
        .route("/_refresh", get(refresh_all).post(refresh_all))
        .route("/_forcemerge", post(force_merge_all))
        .route("/{index}/_forcemerge", post(force_merge_index))
        .route("/_mapping", get(mapping_all))
        .route("/_field_caps", get(field_caps_all).post(field_caps_all))
        .route("/_cat/indices", get(cat_indices_all))
        .route("/_cat/indices/{index}", get(cat_indices))
        .route("/_cat/health", get(cat_health))
        .route("/_cluster/health", get(cluster_health_all))
        .route("/_cluster/health/{index}", get(cluster_health))
        .route("/_nodes", get(nodes))
        .route("/_nodes/{*rest}", get(nodes))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_alias", get(|| async { Json(json!({})) }))
        .route(
            "/_aliases",
            get(|| async { Json(json!({})) }).post(acknowledged),
        )
        .route(
            "/_index_template/{name}",
            get(get_template)
                .put(put_template)
                .post(put_template)
                .delete(delete_template)
                .head(head_template),
        )
        .route(
            "/_template/{name}",
            get(get_template)
                .put(put_template)
                .post(put_template)
                .delete(delete_template)
                .head(head_template),
        )
        .route(
            "/_component_template/{name}",
            get(get_template)
                .put(put_template)
                .post(put_template)
                .delete(delete_template)
                .head(head_template),
        )
        .route(
            "/_ilm/policy/{name}",
            get(get_template).put(put_template).delete(delete_template),
        )
        .route(
            "/_ingest/pipeline/{name}",
            get(get_template).put(put_template).delete(delete_template),
        )
        .route(
            "/_data_stream/{name}",
            get(get_data_stream).put(put_data_stream),
        )
        .route(
            "/{index}",
            get(get_index)
                .put(create_index)
                .delete(delete_index)
                .head(head_index),
        )
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/_search", get(search_index).post(search_index))
        .route("/{index}/_msearch", get(msearch_index).post(msearch_index))
        .route("/{index}/_count", get(count_index).post(count_index))
        .route("/{index}/_refresh", get(refresh_index).post(refresh_index))
        .route(
            "/{index}/_mapping",
            get(mapping_index).put(put_mapping).post(put_mapping),
        )
        .route(
            "/{index}/_field_caps",
            get(field_caps_index).post(field_caps_index),
        )
        .route("/{index}/_doc", post(post_doc))
        .route(
            "/{index}/_doc/{id}",
            get(get_doc)
                .head(head_doc)
                .put(put_doc)
                .post(put_doc)
                .delete(delete_doc),
        )
        .route("/{index}/_create/{id}", put(create_doc).post(create_doc))
        .route("/{index}/_update/{id}", post(update_doc))
        .route("/{index}/_source/{id}", get(get_source))
        .route("/{index}/{doc_type}", post(post_doc_legacy))
        .route(
            "/{index}/{doc_type}/{id}",
            put(put_doc_legacy).post(put_doc_legacy),
        )
        .fallback(unknown_endpoint)
        .with_state(state)
}

use axum::routing::put;

async fn unknown_endpoint(method: Method, uri: axum::http::Uri) -> EsError {
    EsError::bad_request(
        "illegal_argument_exception",
        format!(
            "unrecognized or unsupported endpoint [{method} {}] in Osprey's Elasticsearch-compatible API",
            uri.path()
        ),
    )
}

async fn acknowledged() -> Json<Value> {
    Json(json!({"acknowledged": true}))
}

/// Runs blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> EsResult<T> + Send + 'static,
) -> EsResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        EsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            format!("internal task failed: {e}"),
        )
    })?
}

fn parse_body(body: &Bytes) -> EsResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        EsError::bad_request(
            "parsing_exception",
            format!("request body is not valid JSON: {e}"),
        )
    })
}

fn validate_index(name: &str) -> EsResult<String> {
    Ok(IndexName::new(name)?.as_str().to_string())
}

async fn info(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": state.node_name,
        "cluster_name": "osprey",
        "cluster_uuid": "osprey-single-node",
        "version": {
            "number": COMPATIBLE_VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2026-11-26T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search",
        "osprey_version": env!("CARGO_PKG_VERSION")
    }))
}

// ---- bulk and documents -------------------------------------------------------------------

fn write_item(op: Op, index: String, id: Option<String>, item: Option<BulkItem>) -> WriteItem {
    let (source, timestamp, update) = match item {
        Some(item) => (item.source, item.timestamp, item.update),
        None => (None, None, None),
    };
    WriteItem {
        op,
        index,
        id,
        source,
        document: None,
        timestamp,
        update_doc: update.as_ref().and_then(|u| u.doc.clone()),
        doc_as_upsert: update.as_ref().is_some_and(|u| u.doc_as_upsert),
        upsert: update.and_then(|u| u.upsert),
    }
}

fn op_of(op: BulkOp) -> Op {
    match op {
        BulkOp::Index => Op::Index,
        BulkOp::Create => Op::Create,
        BulkOp::Delete => Op::Delete,
        BulkOp::Update => Op::Update,
    }
}

fn item_json(action: &str, outcome: &ItemOutcome) -> Value {
    let mut body = json!({"_index": outcome.index, "_id": outcome.id, "status": outcome.status});
    match &outcome.error {
        Some((kind, reason)) => {
            body["error"] = json!({"type": kind, "reason": reason, "index": outcome.index});
        }
        None => {
            body["_version"] = json!(outcome.version);
            body["result"] = json!(outcome.result);
            body["_shards"] = json!({"total": 1, "successful": 1, "failed": 0});
            body["_seq_no"] = json!(outcome.seq_no);
            body["_primary_term"] = json!(1);
        }
    }
    json!({ action: body })
}

fn item_error(
    action: &str,
    index: &str,
    id: Option<&str>,
    status: u16,
    kind: &str,
    reason: String,
) -> Value {
    json!({ action: {"_index": index, "_id": id, "status": status, "error": {"type": kind, "reason": reason, "index": index}} })
}

pub(crate) async fn bulk_all(
    state: State<AppState>,
    params: Params,
    body: Bytes,
) -> EsResult<Response> {
    bulk(state, None, params, body).await
}

pub(crate) async fn bulk_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
    body: Bytes,
) -> EsResult<Response> {
    bulk(state, Some(index), params, body).await
}

async fn bulk(
    State(state): State<AppState>,
    url_index: Option<String>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    let started = Instant::now();
    if let Some(index) = &url_index {
        validate_index(index)?;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(EsError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;",
        ));
    }
    let decoded = decode_bulk(&body);
    let mut responses: Vec<Option<Value>> = Vec::with_capacity(decoded.len());
    let mut writes: Vec<WriteItem> = Vec::new();
    let mut slots: Vec<(usize, &'static str)> = Vec::new();
    for item in decoded {
        match item {
            Ok(item) => {
                let action = item.op.name();
                let index = match item.index.clone().or_else(|| url_index.clone()) {
                    Some(index) => index,
                    None => {
                        responses.push(Some(item_error(
                            action,
                            "",
                            item.id.as_deref(),
                            400,
                            "action_request_validation_exception",
                            "Validation Failed: 1: index is missing;".into(),
                        )));
                        continue;
                    }
                };
                if let Err(e) = validate_index(&index) {
                    responses.push(Some(item_error(
                        action,
                        &index,
                        item.id.as_deref(),
                        400,
                        &e.kind,
                        e.reason,
                    )));
                    continue;
                }
                slots.push((responses.len(), action));
                responses.push(None);
                let id = item.id.clone();
                writes.push(write_item(op_of(item.op), index, id, Some(item)));
            }
            Err(error) => {
                let action = error.op.map_or("index", BulkOp::name);
                let index = error
                    .index
                    .clone()
                    .or_else(|| url_index.clone())
                    .unwrap_or_default();
                responses.push(Some(item_error(
                    action,
                    &index,
                    error.id.as_deref(),
                    400,
                    "mapper_parsing_exception",
                    error.to_string(),
                )));
            }
        }
    }
    let count = writes.len();
    let store = state.store.clone();
    let outcomes = if writes.is_empty() {
        Vec::new()
    } else {
        blocking(move || Ok(store.write(writes)?)).await?
    };
    debug_assert_eq!(outcomes.len(), count);
    state
        .metrics
        .record_docs(outcomes.iter().filter(|o| o.error.is_none()).count() as u64);
    maybe_refresh(&state, &params).await?;
    // Items answered before the store are all errors.
    let errors =
        responses.iter().any(Option::is_some) || outcomes.iter().any(|o| o.error.is_some());
    let took = started.elapsed().as_millis() as u64;
    if let Some(paths) = filter_path::parse(params.get("filter_path")) {
        for ((slot, action), outcome) in slots.into_iter().zip(&outcomes) {
            responses[slot] = Some(item_json(action, outcome));
        }
        let items: Vec<Value> = responses
            .into_iter()
            .map(|r| r.unwrap_or(Value::Null))
            .collect();
        let answer = json!({"took": took, "errors": errors, "items": items});
        return Ok(Json(filter_path::apply(&answer, &paths)).into_response());
    }
    // Written straight out: a `Value` per item was a twentieth of a busy server's CPU.
    let mut answer = Vec::with_capacity(64 + responses.len() * 200);
    answer.extend_from_slice(format!(r#"{{"took":{took},"errors":{errors},"items":["#).as_bytes());
    let mut stored = slots.iter().map(|(_, action)| *action).zip(&outcomes);
    for (i, response) in responses.iter().enumerate() {
        if i > 0 {
            answer.push(b',');
        }
        match response {
            Some(value) => write_json(&mut answer, value),
            None => match stored.next() {
                Some((action, outcome)) => write_item_reply(&mut answer, action, outcome),
                None => answer.extend_from_slice(b"null"),
            },
        }
    }
    answer.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(out, value).expect("serialising to a Vec cannot fail");
}

/// Writes what [`item_json`] builds, without building it.
fn write_item_reply(out: &mut Vec<u8>, action: &str, outcome: &ItemOutcome) {
    if outcome.error.is_some() {
        return write_json(out, &item_json(action, outcome));
    }
    out.extend_from_slice(format!(r#"{{"{action}":{{"_index":"#).as_bytes());
    write_json(out, &outcome.index);
    out.extend_from_slice(br#","_id":"#);
    write_json(out, &outcome.id);
    out.extend_from_slice(
        format!(
            r#","_version":{},"result":"{}","_shards":{{"total":1,"successful":1,"failed":0}},"_seq_no":{},"_primary_term":1,"status":{}}}}}"#,
            outcome.version, outcome.result, outcome.seq_no, outcome.status
        )
        .as_bytes(),
    );
}

async fn maybe_refresh(state: &AppState, params: &HashMap<String, String>) -> EsResult<()> {
    if params
        .get("refresh")
        .is_some_and(|v| v.is_empty() || v == "true" || v == "wait_for")
    {
        let store = state.store.clone();
        blocking(move || Ok(store.refresh()?)).await?;
    }
    Ok(())
}

async fn single_write(
    state: &AppState,
    op: Op,
    index: String,
    id: Option<String>,
    body: &Bytes,
    params: &HashMap<String, String>,
) -> EsResult<Response> {
    let index = validate_index(&index)?;
    let item = match op {
        Op::Delete => None,
        Op::Update => {
            let decoded = decode_bulk(
                &[
                    b"{\"update\":{\"_id\":\"x\"}}\n".as_slice(),
                    body.as_ref(),
                    b"\n",
                ]
                .concat(),
            );
            match decoded.into_iter().next() {
                Some(Ok(item)) => Some(item),
                Some(Err(e)) => return Err(EsError::bad_request("parsing_exception", e.reason)),
                None => {
                    return Err(EsError::bad_request(
                        "parsing_exception",
                        "an update body is required",
                    ));
                }
            }
        }
        _ => {
            let trimmed: &[u8] = body.as_ref();
            let timestamp = check_object(trimmed).map_err(|e| {
                EsError::bad_request(
                    "mapper_parsing_exception",
                    format!("failed to parse the document: {e}"),
                )
            })?;
            Some(BulkItem {
                op: BulkOp::Index,
                index: None,
                id: None,
                source: Some(trimmed.trim_ascii().to_vec()),
                timestamp,
                update: None,
            })
        }
    };
    let write = write_item(op, index, id, item);
    let store = state.store.clone();
    let mut outcomes = blocking(move || Ok(store.write(vec![write])?)).await?;
    let outcome = outcomes.pop().ok_or_else(|| {
        EsError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "no outcome")
    })?;
    maybe_refresh(state, params).await?;
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    if let Some((kind, reason)) = &outcome.error {
        let mut error = EsError::new(status, kind, reason.clone());
        error.index = Some(outcome.index.clone());
        return Err(error);
    }
    state.metrics.record_docs(u64::from(op != Op::Delete));
    let body = item_json("x", &outcome)["x"].clone();
    let mut body = body;
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    Ok((status, Json(body)).into_response())
}

async fn post_doc(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    single_write(&state, Op::Index, index, None, &body, &params).await
}

async fn post_doc_legacy(
    State(state): State<AppState>,
    Path((index, _doc_type)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    single_write(&state, Op::Index, index, None, &body, &params).await
}

async fn put_doc_legacy(
    State(state): State<AppState>,
    Path((index, _doc_type, id)): Path<(String, String, String)>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    single_write(&state, Op::Index, index, Some(id), &body, &params).await
}

async fn put_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    let op = if params.get("op_type").is_some_and(|o| o == "create") {
        Op::Create
    } else {
        Op::Index
    };
    single_write(&state, op, index, Some(id), &body, &params).await
}

async fn create_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    single_write(&state, Op::Create, index, Some(id), &body, &params).await
}

async fn update_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    single_write(&state, Op::Update, index, Some(id), &body, &params).await
}

async fn delete_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Params,
) -> EsResult<Response> {
    if state.store.index(&index).is_none() {
        return Err(EsError::index_not_found(&index));
    }
    match single_write(&state, Op::Delete, index.clone(), Some(id.clone()), &Bytes::new(), &params).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({"_index": index, "_id": id, "result": "not_found", "_shards": {"total": 1, "successful": 1, "failed": 0}})),
        )
            .into_response()),
        other => other,
    }
}

async fn fetch_document(state: &AppState, index: &str, id: &str) -> EsResult<Option<StoredDoc>> {
    let store = state.store.clone();
    let (index, id) = (index.to_string(), id.to_string());
    blocking(move || Ok(store.get_document(&index, &id)?)).await
}

async fn fetch_source(state: &AppState, index: &str, id: &str) -> EsResult<Option<Vec<u8>>> {
    Ok(fetch_document(state, index, id)
        .await?
        .map(|d| d.source.as_ref().clone()))
}

async fn get_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Params,
) -> EsResult<Response> {
    let Some(doc) = fetch_document(&state, &index, &id).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(json!({"_index": index, "_id": id, "found": false})),
        )
            .into_response());
    };
    let source = match search::SourceFilter::from_params(&params) {
        Some(filter) => filter.apply(&doc.source),
        None => serde_json::value::RawValue::from_string(
            String::from_utf8_lossy(&doc.source).into_owned(),
        )
        .ok(),
    };
    let body = json!({"_index": index, "_id": id, "_version": doc.version, "_seq_no": doc.seq_no, "_primary_term": 1, "found": true});
    let mut text = body.to_string();
    if let Some(source) = source {
        // `_source` byte for byte, as ingested.
        text.pop();
        text.push_str(",\"_source\":");
        text.push_str(source.get());
        text.push('}');
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response())
}

async fn head_doc(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
) -> StatusCode {
    match fetch_source(&state, &index, &id).await {
        Ok(Some(_)) => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

async fn get_source(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
) -> EsResult<Response> {
    match fetch_source(&state, &index, &id).await? {
        Some(source) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            source,
        )
            .into_response()),
        None => Err(EsError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("Document not found [{index}]/[{id}]"),
        )),
    }
}

// ---- indexes -------------------------------------------------------------------------------

async fn create_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    body: Bytes,
) -> EsResult<Response> {
    let index = validate_index(&index)?;
    let body = parse_body(&body)?;
    let body = if body.is_null() { json!({}) } else { body };
    if !body.is_object() {
        return Err(EsError::bad_request(
            "parsing_exception",
            "the index body must be a JSON object",
        ));
    }
    let store = state.store.clone();
    let name = index.clone();
    blocking(move || Ok(store.create_index(&name, body)?)).await?;
    Ok(
        Json(json!({"acknowledged": true, "shards_acknowledged": true, "index": index}))
            .into_response(),
    )
}

async fn delete_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
) -> EsResult<Response> {
    let ignore = params
        .get("ignore_unavailable")
        .is_some_and(|v| v == "true");
    let targets = state.store.resolve_indices(&index, ignore)?;
    if targets.is_empty() && !index.contains('*') && !ignore {
        return Err(EsError::index_not_found(&index));
    }
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let store = state.store.clone();
    blocking(move || Ok(store.delete_indexes(names)?)).await?;
    Ok(Json(json!({"acknowledged": true})).into_response())
}

async fn head_index(State(state): State<AppState>, Path(index): Path<String>) -> StatusCode {
    match state.store.resolve_indices(&index, false) {
        Ok(found) if !found.is_empty() => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

fn index_description(index: &LiveIndex) -> Value {
    let created = index.created_lsn;
    json!({
        "aliases": {},
        "mappings": index.mapping.read().to_es_json(),
        "settings": {"index": {
            "number_of_shards": "1", "number_of_replicas": "0", "provided_name": index.name,
            "uuid": format!("osprey-{}-{created}", index.name), "creation_date": "0",
            "version": {"created": "8110099"}
        }}
    })
}

async fn get_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
) -> EsResult<Response> {
    let ignore = params
        .get("ignore_unavailable")
        .is_some_and(|v| v == "true");
    let targets = state.store.resolve_indices(&index, ignore)?;
    if targets.is_empty() && !index.contains('*') && !ignore {
        return Err(EsError::index_not_found(&index));
    }
    let out: Map<String, Value> = targets
        .iter()
        .map(|t| (t.name.clone(), index_description(t)))
        .collect();
    Ok(Json(Value::Object(out)).into_response())
}

fn resolve(
    state: &AppState,
    expression: &str,
    params: &HashMap<String, String>,
) -> EsResult<Vec<Arc<LiveIndex>>> {
    let ignore = params
        .get("ignore_unavailable")
        .is_some_and(|v| v == "true");
    Ok(state.store.resolve_indices(expression, ignore)?)
}

async fn mapping_all(state: State<AppState>, params: Params) -> EsResult<Response> {
    mapping(state, "*".into(), params).await
}

async fn mapping_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
) -> EsResult<Response> {
    mapping(state, index, params).await
}

async fn mapping(
    State(state): State<AppState>,
    index: String,
    Query(params): Params,
) -> EsResult<Response> {
    let targets = resolve(&state, &index, &params)?;
    let out: Map<String, Value> = targets
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                json!({"mappings": t.mapping.read().to_es_json()}),
            )
        })
        .collect();
    Ok(Json(Value::Object(out)).into_response())
}

async fn put_mapping(
    State(state): State<AppState>,
    Path(index): Path<String>,
    body: Bytes,
) -> EsResult<Response> {
    let body = parse_body(&body)?;
    let targets = state.store.resolve_indices(&index, false)?;
    let store = state.store.clone();
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    blocking(move || {
        for name in names {
            store.put_mapping(&name, &body)?;
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({"acknowledged": true})).into_response())
}

async fn field_caps_all(state: State<AppState>, params: Params) -> EsResult<Response> {
    field_caps(state, "*".into(), params).await
}

async fn field_caps_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
) -> EsResult<Response> {
    field_caps(state, index, params).await
}

async fn field_caps(
    State(state): State<AppState>,
    index: String,
    Query(params): Params,
) -> EsResult<Response> {
    let targets = resolve(&state, &index, &params)?;
    let wanted: Vec<String> = params.get("fields").map_or_else(
        || vec!["*".into()],
        |f| f.split(',').map(String::from).collect(),
    );
    let mapping = Store::merged_mapping(&targets);
    let mut fields = Map::new();
    let mut add = |name: String, es_type: &str, searchable: bool, aggregatable: bool| {
        if wanted
            .iter()
            .any(|w| osprey_store::wildcard_match(w, &name))
        {
            fields.insert(name, json!({ es_type: {"type": es_type, "metadata_field": false, "searchable": searchable, "aggregatable": aggregatable} }));
        }
    };
    for (path, field_type) in &mapping.fields {
        use osprey_store::mapping::FieldType;
        match field_type {
            FieldType::Object => add(path.clone(), "object", false, false),
            FieldType::Text { keyword } => {
                add(path.clone(), "text", true, false);
                if *keyword {
                    add(format!("{path}.keyword"), "keyword", true, true);
                }
            }
            other => add(path.clone(), other.es_name(), true, true),
        }
    }
    for meta in ["_id", "_index"] {
        if wanted.iter().any(|w| osprey_store::wildcard_match(w, meta)) {
            fields.insert(meta.into(), json!({"_id": {"type": "_id", "metadata_field": true, "searchable": true, "aggregatable": false}}));
        }
    }
    let indices: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    Ok(Json(json!({"indices": indices, "fields": fields})).into_response())
}

async fn force_merge_all(state: State<AppState>, params: Params) -> EsResult<Response> {
    force_merge(state, "*".into(), params).await
}

async fn force_merge_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
) -> EsResult<Response> {
    force_merge(state, index, params).await
}

/// `_forcemerge`: every partition becomes one segment (any `max_num_segments` is treated as 1).
async fn force_merge(
    State(state): State<AppState>,
    index: String,
    Query(params): Params,
) -> EsResult<Response> {
    let targets = resolve(&state, &index, &params)?;
    let shards: usize = targets.iter().map(|t| t.partitions.read().len()).sum();
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let store = state.store.clone();
    blocking(move || Ok(store.force_merge(names)?)).await?;
    Ok(
        Json(json!({"_shards": {"total": shards, "successful": shards, "failed": 0}}))
            .into_response(),
    )
}

async fn refresh_all(state: State<AppState>) -> EsResult<Response> {
    refresh(state).await
}

pub(crate) async fn refresh_index(
    state: State<AppState>,
    Path(index): Path<String>,
) -> EsResult<Response> {
    if !index.contains('*') && index != "_all" && state.store.index(&index).is_none() {
        return Err(EsError::index_not_found(&index));
    }
    refresh(state).await
}

async fn refresh(State(state): State<AppState>) -> EsResult<Response> {
    let store = state.store.clone();
    blocking(move || Ok(store.refresh()?)).await?;
    Ok(Json(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}})).into_response())
}

// ---- search --------------------------------------------------------------------------------

async fn search_all(state: State<AppState>, params: Params, body: Bytes) -> EsResult<Response> {
    search_in(state, "*".into(), params, body).await
}

pub(crate) async fn search_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
    body: Bytes,
) -> EsResult<Response> {
    search_in(state, index, params, body).await
}

async fn search_in(
    State(state): State<AppState>,
    index: String,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    let body = parse_body(&body)?;
    let value = run_search(&state, &index, &params, &body).await?;
    Ok(Json(value).into_response())
}

async fn run_search(
    state: &AppState,
    index: &str,
    params: &HashMap<String, String>,
    body: &Value,
) -> EsResult<Value> {
    let started = Instant::now();
    let targets = resolve(state, index, params)?;
    let parsed = search::parse_search(body, params)?;
    let store = state.store.clone();
    let search::ParsedSearch {
        request,
        source,
        total_as_int,
    } = parsed;
    let response = blocking(move || Ok(store.search(&targets, &request)?)).await?;
    state.metrics.record_search(started.elapsed());
    Ok(search::render(&response, &source, total_as_int, started))
}

async fn msearch_all(state: State<AppState>, params: Params, body: Bytes) -> EsResult<Response> {
    msearch(state, None, params, body).await
}

async fn msearch_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
    body: Bytes,
) -> EsResult<Response> {
    msearch(state, Some(index), params, body).await
}

async fn msearch(
    State(state): State<AppState>,
    url_index: Option<String>,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    let started = Instant::now();
    let lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.len().is_multiple_of(2) {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            "msearch expects header and body lines in pairs; the last body is missing",
        ));
    }
    let mut responses = Vec::new();
    for pair in lines.chunks(2) {
        let result: EsResult<Value> = async {
            let header: Value = serde_json::from_slice(pair[0]).map_err(|e| {
                EsError::bad_request("parsing_exception", format!("msearch header: {e}"))
            })?;
            let body: Value = serde_json::from_slice(pair[1]).map_err(|e| {
                EsError::bad_request("parsing_exception", format!("msearch body: {e}"))
            })?;
            let index = match header.get("index") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => url_index.clone().unwrap_or_else(|| "*".into()),
            };
            let mut item_params = params.clone();
            if header.get("ignore_unavailable") == Some(&Value::Bool(true)) {
                item_params.insert("ignore_unavailable".into(), "true".into());
            }
            let mut value = run_search(&state, &index, &item_params, &body).await?;
            value["status"] = json!(200);
            Ok(value)
        }
        .await;
        responses.push(match result {
            Ok(v) => v,
            Err(e) => e.body(),
        });
    }
    Ok(
        Json(json!({"took": started.elapsed().as_millis() as u64, "responses": responses}))
            .into_response(),
    )
}

async fn count_all(state: State<AppState>, params: Params, body: Bytes) -> EsResult<Response> {
    count(state, "*".into(), params, body).await
}

async fn count_index(
    state: State<AppState>,
    Path(index): Path<String>,
    params: Params,
    body: Bytes,
) -> EsResult<Response> {
    count(state, index, params, body).await
}

async fn count(
    State(state): State<AppState>,
    index: String,
    Query(params): Params,
    body: Bytes,
) -> EsResult<Response> {
    let body = parse_body(&body)?;
    let targets = resolve(&state, &index, &params)?;
    let mut only_query = Map::new();
    if let Some(q) = body.get("query") {
        only_query.insert("query".into(), q.clone());
    }
    let parsed = search::parse_search(&Value::Object(only_query), &params)?;
    let query: QueryAst = parsed.request.query;
    let now = parsed.request.now;
    let store = state.store.clone();
    let shards = targets
        .iter()
        .map(|t| t.partitions.read().len())
        .sum::<usize>()
        .max(1);
    let total = blocking(move || Ok(store.count(&targets, &query, now)?)).await?;
    Ok(Json(json!({"count": total, "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0}})).into_response())
}

// ---- cluster and cat -----------------------------------------------------------------------

fn doc_count(index: &LiveIndex) -> u64 {
    index
        .partitions
        .read()
        .values()
        .map(|p| p.reader.searcher().num_docs())
        .sum()
}

async fn cat_indices_all(state: State<AppState>, params: Params) -> EsResult<Response> {
    cat_indices(state, Path("*".into()), params).await
}

async fn cat_indices(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
) -> EsResult<Response> {
    let targets = resolve(&state, &index, &params)?;
    // Document counts read what is committed, as searches do.
    let store = state.store.clone();
    blocking(move || Ok(store.before_search()?)).await?;
    let rows: Vec<Value> = targets
        .iter()
        .map(|t| {
            let size = state.store.index_size_bytes(t);
            json!({
                "health": "green", "status": "open", "index": t.name,
                "uuid": format!("osprey-{}-{}", t.name, t.created_lsn), "pri": "1", "rep": "0",
                "docs.count": doc_count(t).to_string(), "docs.deleted": "0",
                "store.size": size.to_string(), "pri.store.size": size.to_string(),
                "dataset.size": size.to_string()
            })
        })
        .collect();
    if params.get("format").is_some_and(|f| f == "json") {
        return Ok(Json(Value::Array(rows)).into_response());
    }
    let columns = [
        "health",
        "status",
        "index",
        "uuid",
        "pri",
        "rep",
        "docs.count",
        "docs.deleted",
        "store.size",
        "pri.store.size",
    ];
    Ok(text_table(&columns, &rows, params.contains_key("v")).into_response())
}

fn text_table(columns: &[&str], rows: &[Value], header: bool) -> String {
    let mut table: Vec<Vec<String>> = Vec::new();
    if header {
        table.push(columns.iter().map(|c| c.to_string()).collect());
    }
    for row in rows {
        table.push(
            columns
                .iter()
                .map(|c| {
                    row.get(*c)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in table {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<width$}", width = widths[i]))
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}

fn health_body(state: &AppState, targets: &[Arc<LiveIndex>]) -> Value {
    let shards: usize = targets
        .iter()
        .map(|t| t.partitions.read().len().max(1))
        .sum();
    json!({
        "cluster_name": "osprey", "status": "green", "timed_out": false,
        "number_of_nodes": 1, "number_of_data_nodes": 1,
        "active_primary_shards": shards, "active_shards": shards,
        "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
        "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0,
        "node": state.node_name
    })
}

async fn cluster_health_all(State(state): State<AppState>) -> Json<Value> {
    let targets = state.store.indexes();
    Json(health_body(&state, &targets))
}

async fn cluster_health(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
) -> EsResult<Response> {
    let targets = resolve(&state, &index, &params)?;
    Ok(Json(health_body(&state, &targets)).into_response())
}

async fn cat_health(State(state): State<AppState>, Query(params): Params) -> Response {
    let targets = state.store.indexes();
    let shards = targets.len().to_string();
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let row = json!({"epoch": epoch.to_string(), "timestamp": "", "cluster": "osprey", "status": "green", "node.total": "1", "node.data": "1", "shards": shards, "pri": shards, "relo": "0", "init": "0", "unassign": "0", "pending_tasks": "0", "max_task_wait_time": "-", "active_shards_percent": "100.0%"});
    if params.get("format").is_some_and(|f| f == "json") {
        return Json(json!([row])).into_response();
    }
    let columns = [
        "epoch",
        "timestamp",
        "cluster",
        "status",
        "node.total",
        "node.data",
        "shards",
        "pri",
        "relo",
        "init",
        "unassign",
        "pending_tasks",
        "max_task_wait_time",
        "active_shards_percent",
    ];
    text_table(&columns, &[row], params.contains_key("v")).into_response()
}

async fn nodes(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": "osprey",
        "nodes": {"osprey-node": {"name": state.node_name, "version": COMPATIBLE_VERSION, "roles": ["master", "data", "ingest"], "http": {"publish_address": "127.0.0.1:9200"}}}
    }))
}

async fn license() -> Json<Value> {
    Json(
        json!({"license": {"status": "active", "type": "basic", "uid": "osprey", "issue_date_in_millis": 0}}),
    )
}

async fn xpack() -> Json<Value> {
    Json(
        json!({"build": {}, "license": {"status": "active", "type": "basic", "mode": "basic"}, "features": {}}),
    )
}

// ---- templates, ILM, pipelines, data streams: stored so shippers' start-up calls succeed ------

fn object_kind(uri: &axum::http::Uri) -> &'static str {
    let path = uri.path();
    if path.starts_with("/_index_template/") {
        "index_template"
    } else if path.starts_with("/_template/") {
        "template"
    } else if path.starts_with("/_component_template/") {
        "component_template"
    } else if path.starts_with("/_ilm/") {
        "ilm_policy"
    } else {
        "ingest_pipeline"
    }
}

async fn put_template(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
    body: Bytes,
) -> EsResult<Response> {
    let kind = object_kind(&uri);
    let body = parse_body(&body)?;
    if !body.is_object() {
        return Err(EsError::bad_request(
            "parsing_exception",
            format!("the {kind} body must be a JSON object"),
        ));
    }
    let spec = body.get("template").unwrap_or(&body);
    if let Some(mappings) = spec.get("mappings") {
        osprey_store::mapping::IndexMapping::from_es_mappings(mappings)
            .map_err(|e| EsError::bad_request("mapper_parsing_exception", e.to_string()))?;
    }
    let store = state.store.clone();
    blocking(move || Ok(store.put_object(kind, &name, Some(body))?)).await?;
    Ok(Json(json!({"acknowledged": true})).into_response())
}

async fn get_template(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
) -> EsResult<Response> {
    let kind = object_kind(&uri);
    let objects = state.store.get_objects(kind);
    let matching: Vec<(String, Value)> = objects
        .into_iter()
        .filter(|(n, _)| osprey_store::wildcard_match(&name, n))
        .collect();
    if matching.is_empty() {
        return Err(EsError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("{kind} [{name}] missing"),
        ));
    }
    Ok(match kind {
        "index_template" => Json(json!({"index_templates": matching.iter().map(|(n, v)| json!({"name": n, "index_template": v})).collect::<Vec<_>>()})),
        "component_template" => Json(json!({"component_templates": matching.iter().map(|(n, v)| json!({"name": n, "component_template": v})).collect::<Vec<_>>()})),
        "ilm_policy" => Json(Value::Object(matching.into_iter().map(|(n, v)| (n, json!({"version": 1, "policy": v.get("policy").cloned().unwrap_or(v)}))).collect())),
        _ => Json(Value::Object(matching.into_iter().collect())),
    }
    .into_response())
}

async fn head_template(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
) -> StatusCode {
    if state
        .store
        .get_objects(object_kind(&uri))
        .contains_key(&name)
    {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn delete_template(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
) -> EsResult<Response> {
    let kind = object_kind(&uri);
    if !state.store.get_objects(kind).contains_key(&name) {
        return Err(EsError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("{kind} [{name}] missing"),
        ));
    }
    let store = state.store.clone();
    blocking(move || Ok(store.put_object(kind, &name, None)?)).await?;
    Ok(Json(json!({"acknowledged": true})).into_response())
}

/// Data streams are served as plain indexes of the same name.
async fn put_data_stream(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> EsResult<Response> {
    let name = validate_index(&name)?;
    if state.store.index(&name).is_none() {
        let store = state.store.clone();
        let index = name.clone();
        blocking(move || Ok(store.create_index(&index, json!({}))?)).await?;
    }
    Ok(Json(json!({"acknowledged": true})).into_response())
}

async fn get_data_stream(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> EsResult<Response> {
    let targets = state.store.resolve_indices(&name, true)?;
    if targets.is_empty() {
        return Err(EsError::new(
            StatusCode::NOT_FOUND,
            "index_not_found_exception",
            format!("no such index [{name}]"),
        ));
    }
    let streams: Vec<Value> = targets
        .iter()
        .map(|t| json!({"name": t.name, "timestamp_field": {"name": "@timestamp"}, "indices": [{"index_name": t.name}], "generation": 1, "status": "GREEN"}))
        .collect();
    Ok(Json(json!({"data_streams": streams})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_replies_are_written_as_they_are_built() {
        let mut outcome = ItemOutcome {
            index: "logs-\"é\"".into(),
            id: "a\\b\u{1}".into(),
            status: 201,
            result: "created",
            seq_no: 42,
            version: 3,
            error: None,
        };
        for error in [
            None,
            Some(("version_conflict_engine_exception".into(), "x \"y\"".into())),
        ] {
            outcome.error = error;
            let mut written = Vec::new();
            write_item_reply(&mut written, "create", &outcome);
            let written: Value = serde_json::from_slice(&written).expect("valid JSON");
            assert_eq!(written, item_json("create", &outcome));
        }
    }
}
