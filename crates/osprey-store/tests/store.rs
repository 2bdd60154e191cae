//! The store end to end, in process: write, refresh, search, aggregate, reopen.

use jiff::Timestamp;
use osprey_query::{QueryAst, QueryStringOptions, parse_query_string};
use osprey_store::{Op, SearchRequest, SortSpec, Store, StoreConfig, TrackTotalHits, WriteItem};
use serde_json::{Value, json};

/// A write as `_bulk` sends it: the source bytes and their `@timestamp`, the store parses them.
fn item(index: &str, id: Option<&str>, doc: Value) -> WriteItem {
    let source = serde_json::to_vec(&doc).expect("json");
    WriteItem {
        op: Op::Index,
        index: index.into(),
        id: id.map(String::from),
        source: Some(source),
        document: None,
        timestamp: doc.get("@timestamp").cloned(),
        update_doc: None,
        doc_as_upsert: false,
        upsert: None,
    }
}

fn query(store: &Store, index: &str, q: &str) -> u64 {
    let indexes = store.resolve_indices(index, true).expect("indices");
    let options = QueryStringOptions {
        default_fields: vec!["message".into()],
        ..Default::default()
    };
    let ast = parse_query_string(q, &options).expect("query");
    store
        .count(&indexes, &ast, Timestamp::now())
        .expect("count")
}

/// A page of `query`'s hits in index order, with an exact total.
fn page(query: QueryAst, from: usize, size: usize) -> SearchRequest {
    SearchRequest {
        query,
        from,
        size,
        sort: vec![],
        search_after: None,
        aggregations: None,
        track_total_hits: TrackTotalHits::Exact,
        now: Timestamp::now(),
    }
}

fn docs() -> Vec<Value> {
    (0..50)
        .map(|i| {
            json!({
                "@timestamp": format!("2026-11-{:02}T10:00:{:02}.000Z", 20 + i % 5, i),
                "message": if i % 2 == 0 { format!("GET /api/users/{i} from 10.0.3.17 connection refused") } else { format!("user_id={i} logged in at www.example.com") },
                "status": 200 + (i % 4) * 100,
                "duration_ms": i as f64 / 4.0,
                "kubernetes": {"labels": {"app": if i % 3 == 0 { "flask" } else { "redis" }}},
            })
        })
        .collect()
}

#[test]
fn writes_search_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    let items: Vec<_> = docs()
        .into_iter()
        .enumerate()
        .map(|(i, d)| item("logs-a", Some(&format!("d{i}")), d))
        .collect();
    let outcomes = store.write(items).expect("write");
    assert!(outcomes.iter().all(|o| o.status == 201), "{outcomes:?}");
    // Realtime get before refresh.
    assert!(store.get_source("logs-a", "d3").expect("get").is_some());
    store.refresh().expect("refresh");

    assert_eq!(query(&store, "logs-*", "*:*"), 50);
    assert_eq!(query(&store, "logs-a", "refused"), 25);
    assert_eq!(query(&store, "logs-a", "\"connection refused\""), 25);
    assert_eq!(query(&store, "logs-a", "10.0.3.17"), 25);
    assert_eq!(query(&store, "logs-a", "www.example.com"), 25);
    assert_eq!(query(&store, "logs-a", "kubernetes.labels.app:flask"), 17);
    assert_eq!(
        query(&store, "logs-a", "kubernetes.labels.app.keyword:flask"),
        17
    );
    assert_eq!(query(&store, "logs-a", "status:[300 TO 400]"), 25);
    assert_eq!(query(&store, "logs-a", "status:>=500"), 12);
    assert_eq!(query(&store, "logs-a", "duration_ms:<1"), 4);
    assert_eq!(
        query(
            &store,
            "logs-a",
            "@timestamp:[2026-11-21 TO 2026-11-21||/d]"
        ),
        10
    );
    assert_eq!(query(&store, "logs-a", "refus*"), 25);
    assert_eq!(query(&store, "logs-a", "/ref.sed/"), 25);
    assert_eq!(query(&store, "logs-a", "refuzed~1"), 25);
    assert_eq!(query(&store, "logs-a", "NOT refused"), 25);
    assert_eq!(query(&store, "logs-a", "_exists_:kubernetes.labels"), 50);
    // Keyword values are columnar: patterns run over the value dictionary.
    assert_eq!(
        query(&store, "logs-a", "kubernetes.labels.app.keyword:fla*"),
        17
    );
    assert_eq!(
        query(&store, "logs-a", "kubernetes.labels.app.keyword:/red.s/"),
        33
    );
    assert_eq!(
        query(&store, "logs-a", "kubernetes.labels.app.keyword:flsk~1"),
        17
    );
    assert_eq!(
        query(&store, "logs-a", "kubernetes.labels.app.keyword:FLASK"),
        0
    );
    assert_eq!(
        query(
            &store,
            "logs-a",
            "kubernetes.labels.app.keyword:[flask TO flask]"
        ),
        17
    );

    // Overwrite by id keeps one copy; delete removes.
    let outcome = store
        .write(vec![item(
            "logs-a",
            Some("d0"),
            json!({"message": "replaced"}),
        )])
        .expect("overwrite");
    assert_eq!(outcome[0].result, "updated");
    let delete = WriteItem {
        op: Op::Delete,
        ..item("logs-a", Some("d1"), json!({}))
    };
    assert_eq!(
        store.write(vec![delete]).expect("delete")[0].result,
        "deleted"
    );
    store.refresh().expect("refresh");
    assert_eq!(query(&store, "logs-a", "*:*"), 49);
    assert_eq!(query(&store, "logs-a", "replaced"), 1);

    // Sorted pages with search_after visit every document once.
    let indexes = store.resolve_indices("logs-a", false).expect("indices");
    let mut seen = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let request = SearchRequest {
            query: QueryAst::MatchAll,
            from: 0,
            size: 7,
            sort: vec![
                SortSpec {
                    field: "@timestamp".into(),
                    descending: true,
                },
                SortSpec {
                    field: "status".into(),
                    descending: false,
                },
                SortSpec {
                    field: "_id".into(),
                    descending: false,
                },
            ],
            search_after: after.clone(),
            aggregations: None,
            track_total_hits: TrackTotalHits::Exact,
            now: Timestamp::now(),
        };
        let response = store.search(&indexes, &request).expect("search");
        if response.hits.is_empty() {
            break;
        }
        for hit in &response.hits {
            assert!(seen.insert(hit.id.clone()), "{} seen twice", hit.id);
        }
        after = Some(response.hits.last().expect("hit").sort.clone());
    }
    assert_eq!(seen.len(), 49);

    // Aggregations.
    let request = SearchRequest {
        query: QueryAst::MatchAll,
        from: 0,
        size: 0,
        sort: vec![],
        search_after: None,
        aggregations: Some(json!({
            "per_day": {"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}},
            "per_month": {"date_histogram": {"field": "@timestamp", "calendar_interval": "month"}},
            "apps": {"terms": {"field": "kubernetes.labels.app.keyword"}},
            "took": {"stats": {"field": "duration_ms"}},
        })),
        track_total_hits: TrackTotalHits::Exact,
        now: Timestamp::now(),
    };
    let response = store.search(&indexes, &request).expect("aggs");
    let aggs = response.aggregations.expect("aggregations");
    let days = aggs["per_day"]["buckets"].as_array().expect("buckets");
    assert_eq!(
        days.iter()
            .map(|b| b["doc_count"].as_u64().expect("count"))
            .sum::<u64>(),
        48
    );
    assert_eq!(days[0]["key_as_string"], "2026-11-20T00:00:00.000Z");
    assert_eq!(aggs["per_month"]["buckets"][0]["doc_count"], 48);
    assert_eq!(
        aggs["per_month"]["buckets"][0]["key_as_string"],
        "2026-11-01T00:00:00.000Z"
    );
    let apps = aggs["apps"]["buckets"].as_array().expect("terms");
    assert_eq!(apps[0]["key"], "redis");
    drop(store);

    // Reopen: everything is there exactly once.
    let store = Store::open(StoreConfig::new(dir.path())).expect("reopen");
    assert_eq!(query(&store, "logs-a", "*:*"), 49);
}

#[test]
fn type_conflicts_never_lose_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    store
        .write(vec![item("c", None, json!({"status": 200}))])
        .expect("write");
    let outcome = store
        .write(vec![item(
            "c",
            None,
            json!({"status": "unknown", "message": "odd"}),
        )])
        .expect("write");
    assert_eq!(outcome[0].status, 201);
    store.refresh().expect("refresh");
    assert_eq!(query(&store, "c", "*:*"), 2);
    assert_eq!(query(&store, "c", "odd"), 1);
}

#[test]
fn retention_drops_whole_old_partitions_and_replay_does_not_revive_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StoreConfig::new(dir.path());
    config.retention_max_age = Some(std::time::Duration::from_secs(3 * 86_400));
    let now = Timestamp::now();
    let day = |days_ago: i64| (now - jiff::SignedDuration::from_hours(24 * days_ago)).to_string();
    {
        // Written while retention was off...
        let store = Store::open(StoreConfig::new(dir.path())).expect("open");
        let items = vec![
            item(
                "r",
                Some("old1"),
                json!({"@timestamp": day(10), "message": "old"}),
            ),
            item(
                "r",
                Some("old2"),
                json!({"@timestamp": day(9), "message": "old"}),
            ),
            item(
                "r",
                Some("new1"),
                json!({"@timestamp": day(0), "message": "new"}),
            ),
        ];
        store.write(items).expect("write");
        store.refresh().expect("refresh");
        assert_eq!(query(&store, "r", "*:*"), 3);
    }
    {
        // ...then kept 3 days.
        let store = Store::open(config.clone()).expect("open with retention");
        store.enforce_retention().expect("retention");
        assert_eq!(query(&store, "r", "*:*"), 1);
        assert_eq!(
            store
                .stats()
                .partitions_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        // Old documents written now are not kept either.
        store
            .write(vec![item(
                "r",
                Some("old3"),
                json!({"@timestamp": day(30), "message": "old"}),
            )])
            .expect("write");
    }
    let store = Store::open(config).expect("reopen");
    store.enforce_retention().expect("retention");
    assert_eq!(query(&store, "r", "old"), 0);
    assert_eq!(query(&store, "r", "new"), 1);
    let size_limited = {
        let mut c = StoreConfig::new(dir.path().join("sized"));
        c.retention_max_bytes = Some(1);
        c
    };
    let sized = Store::open(size_limited).expect("open sized");
    let items = (0..3)
        .map(|i| item("s", None, json!({"@timestamp": day(5 - i), "message": "x"})))
        .collect();
    sized.write(items).expect("write");
    sized.enforce_retention().expect("retention");
    // The oldest partitions go first; the partition being written stays.
    assert_eq!(query(&sized, "s", "*:*"), 1);
}

/// Writes `batches` × `per_batch` documents to `index`, refreshing after each batch (so each
/// partition gets several segments); document `i` gets id `i` and the body `doc(i)`.
fn write_in_refreshes(
    store: &Store,
    index: &str,
    batches: usize,
    per_batch: usize,
    doc: impl Fn(usize) -> Value,
) {
    for batch in 0..batches {
        let items = (batch * per_batch..(batch + 1) * per_batch)
            .map(|i| item(index, Some(&i.to_string()), doc(i)))
            .collect();
        store.write(items).expect("write");
        store.refresh().expect("refresh");
    }
}

/// Searchable segments over all partitions of `index`.
fn segment_count(store: &Store, index: &str) -> usize {
    store
        .index(index)
        .expect("index")
        .partitions
        .read()
        .values()
        .map(|p| p.index.searchable_segment_ids().expect("ids").len())
        .sum()
}

#[test]
fn force_merge_leaves_one_segment_per_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    write_in_refreshes(
        &store,
        "m",
        3,
        10,
        |_| json!({"@timestamp": "2026-11-20T00:00:00Z", "message": "merge me"}),
    );
    // At least one segment per refresh (one per indexing thread that received documents).
    let segments = segment_count(&store, "m");
    assert!(segments >= 3, "{segments} segments");
    store.force_merge(vec!["m".into()]).expect("merge");
    assert_eq!(segment_count(&store, "m"), 1);
    assert_eq!(query(&store, "m", "merge"), 30);
    assert!(store.get_document("m", "29").expect("get").is_some());
}

/// Postings and positions files of a partition, and whether each is stored compressed.
fn postings_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("idx" | "pos")
            ) {
                let bytes = std::fs::read(&path).expect("read");
                let compressed = bytes.ends_with(osprey_store::block_compression::MAGIC);
                found.push((path, compressed));
            }
        }
    }
    found
}

#[test]
fn merged_days_are_stored_compact_and_answer_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queries = [
        "refused",
        "\"connection refused\"",
        "\"refused connection\"~2",
        "request_id:r1234*",
        "request_id:r4000",
        "servce~1",
        "status:[300 TO 400]",
        "message:users AND NOT kubernetes.labels.app:redis",
    ];
    let answers =
        |store: &Store| -> Vec<u64> { queries.iter().map(|q| query(store, "c", q)).collect() };
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    write_in_refreshes(&store, "c", 4, 1500, |i| {
        json!({
            "@timestamp": format!("2026-11-{:02}T10:00:00Z", 20 + i % 2),
            "message": if i % 3 == 0 { format!("GET /api/users/{i} connection refused by service") } else { format!("request r{i} served in {i} ms") },
            "request_id": format!("r{i}"),
            "status": 200 + (i % 4) * 100,
            "kubernetes": {"labels": {"app": if i % 5 == 0 { "flask" } else { "redis" }}},
        })
    });
    let before = answers(&store);
    assert!(before.iter().all(|&n| n > 0), "{before:?}");
    let files = postings_files(dir.path());
    assert!(
        !files.is_empty() && files.iter().all(|(_, compressed)| !compressed),
        "{files:?}"
    );
    let source_before = store.get_source("c", "4321").expect("get");

    store.force_merge(vec!["c".into()]).expect("merge");
    let files = postings_files(dir.path());
    assert!(
        !files.is_empty() && files.iter().all(|(_, compressed)| *compressed),
        "{files:?}"
    );
    assert_eq!(answers(&store), before);
    // Writes after the merge go to ordinary segments again, beside the compact one.
    store
        .write(vec![item(
            "c",
            Some("late"),
            json!({"@timestamp": "2026-11-20T11:00:00Z", "message": "refused late"}),
        )])
        .expect("write");
    store.refresh().expect("refresh");
    assert!(
        postings_files(dir.path())
            .iter()
            .any(|(_, compressed)| !compressed)
    );
    assert_eq!(query(&store, "c", "refused"), before[0] + 1);
    drop(store);

    let store = Store::open(StoreConfig::new(dir.path())).expect("reopen");
    assert_eq!(query(&store, "c", "refused"), before[0] + 1);
    assert_eq!(answers(&store)[1..], before[1..]);
    assert_eq!(store.get_source("c", "4321").expect("get"), source_before);
}

#[test]
fn an_idle_past_day_is_merged_compact_while_writes_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StoreConfig::new(dir.path());
    config.idle_writer_timeout = std::time::Duration::from_millis(200);
    let store = Store::open(config).expect("open");
    write_in_refreshes(
        &store,
        "past",
        3,
        200,
        |i| json!({"@timestamp": "2026-11-20T10:00:00Z", "message": format!("old line {i} connection refused")}),
    );
    let segments = || segment_count(&store, "past");
    assert!(segments() >= 3, "{} segments", segments());
    // Today's writes keep being acknowledged while the past day merges on its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut written = 0;
    while segments() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the past day was not merged"
        );
        let outcomes = store
            .write(vec![item(
                "today",
                None,
                json!({"@timestamp": Timestamp::now().to_string(), "message": "new"}),
            )])
            .expect("write");
        assert_eq!(outcomes[0].status, 201);
        written += 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let past_dir = dir.path().join("indexes").join("past");
    let files = postings_files(&past_dir);
    assert!(
        !files.is_empty() && files.iter().all(|(_, compressed)| *compressed),
        "{files:?}"
    );
    assert_eq!(query(&store, "past", "\"connection refused\""), 600);
    store.refresh().expect("refresh");
    assert_eq!(query(&store, "today", "new"), written);
}

#[test]
fn a_past_day_left_unmerged_by_a_restart_is_merged_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        // Long idle timeout: the store closes before the day is merged.
        let store = Store::open(StoreConfig::new(dir.path())).expect("open");
        write_in_refreshes(
            &store,
            "left",
            3,
            100,
            |i| json!({"@timestamp": "2026-11-19T08:00:00Z", "message": format!("left over {i}")}),
        );
        assert!(segment_count(&store, "left") >= 3);
    }
    let mut config = StoreConfig::new(dir.path());
    config.idle_writer_timeout = std::time::Duration::from_millis(200);
    let store = Store::open(config).expect("reopen");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while segment_count(&store, "left") > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the left-over day was not merged"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let files = postings_files(&dir.path().join("indexes").join("left"));
    assert!(
        !files.is_empty() && files.iter().all(|(_, compressed)| *compressed),
        "{files:?}"
    );
    assert_eq!(query(&store, "left", "left"), 300);
}

#[test]
fn time_ranges_skip_other_days_without_losing_edges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    let items = [
        "2026-11-21T23:59:59.999Z",
        "2026-11-22T00:00:00.000Z",
        "2026-11-23T12:00:00Z",
    ]
    .iter()
    .enumerate()
    .map(|(i, ts)| {
        item(
            "t",
            Some(&i.to_string()),
            json!({"@timestamp": ts, "message": "edge"}),
        )
    })
    .collect();
    store.write(items).expect("write");
    store.refresh().expect("refresh");
    assert_eq!(
        query(
            &store,
            "t",
            "@timestamp:[2026-11-21T23:59:59.999Z TO 2026-11-22T00:00:00Z]"
        ),
        2
    );
    assert_eq!(
        query(
            &store,
            "t",
            "@timestamp:{2026-11-21T23:59:59.999Z TO 2026-11-22T00:00:00Z]"
        ),
        1
    );
    assert_eq!(query(&store, "t", "edge AND @timestamp:>=2026-11-22"), 2);
    assert_eq!(query(&store, "t", "edge OR @timestamp:>=2026-11-23"), 3);
    assert_eq!(query(&store, "t", "@timestamp:<2026-11-22"), 1);
}

#[test]
fn one_process_per_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Store::open(StoreConfig::new(dir.path())).expect("open");
    let second = Store::open(StoreConfig::new(dir.path())).expect_err("locked");
    assert!(
        second
            .to_string()
            .contains("in use by another Osprey process"),
        "{second}"
    );
    drop(first);
    Store::open(StoreConfig::new(dir.path())).expect("open after the first closed");
}

#[test]
fn numeric_ranges_count_and_page_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    // `bytes` is in one document of three (a sparse column), never negative (an unsigned one).
    let items = (0..90)
        .map(|i| {
            let mut doc = json!({"@timestamp": "2026-11-24T10:00:00Z", "message": "r"});
            if i % 3 == 0 {
                doc["bytes"] = json!(i * 10);
            }
            item("n", Some(&i.to_string()), doc)
        })
        .collect();
    store.write(items).expect("write");
    store.refresh().expect("refresh");
    assert_eq!(query(&store, "n", "bytes:[100 TO 300]"), 7);
    assert_eq!(query(&store, "n", "bytes:>=0"), 30);
    // Fractional bounds on a long field cover the integers between them.
    assert_eq!(query(&store, "n", "bytes:[99.5 TO 300.5]"), 7);
    assert_eq!(query(&store, "n", "bytes:{90.0 TO 120.1}"), 1);
    assert_eq!(query(&store, "n", "bytes:<-0.5"), 0);
    assert_eq!(query(&store, "n", "bytes:[-10.5 TO -1]"), 0);
    assert_eq!(query(&store, "n", "bytes:[0.5 TO 0.7]"), 0);
    // Bounds that are not numbers are errors, not empty results.
    let indexes = store.resolve_indices("n", true).expect("indices");
    for bad in ["bytes:[1.5 TO abc]", "bytes:[NaN TO 5]", "bytes:>NaN"] {
        let ast = parse_query_string(bad, &QueryStringOptions::default()).expect("parses");
        let err = store
            .count(&indexes, &ast, Timestamp::now())
            .expect_err(bad);
        assert!(err.to_string().contains("as a number"), "{bad}: {err}");
    }

    // The total and the page come from different passes over constant-score matches.
    let indexes = store.resolve_indices("n", true).expect("indices");
    let options = QueryStringOptions::default();
    for (q, total) in [("bytes:[100 TO 300]", 7), ("bytes:>=0", 30), ("*:*", 90)] {
        let request = page(parse_query_string(q, &options).expect("query"), 2, 3);
        let response = store.search(&indexes, &request).expect("search");
        assert_eq!(response.total, Some((total, true)), "{q}");
        assert_eq!(response.hits.len(), 3, "{q}");
        assert_eq!(response.max_score, Some(1.0), "{q}");
    }
}

/// A segment whose column holds one value only: tantivy clamps a range below a bit-packed
/// column's minimum to the minimum, so `flag:false` once matched a segment of `true`s.
#[test]
fn ranges_below_a_segments_only_value_match_nothing_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    // One segment per write: every column in each holds a single value.
    for (id, flag, count) in [("t", true, 7), ("f", false, 3)] {
        let doc = json!({"@timestamp": "2026-11-24T10:00:00Z", "flag": flag, "count": count});
        store
            .write(vec![item("single", Some(id), doc)])
            .expect("write");
        store.refresh().expect("refresh");
    }
    assert_eq!(query(&store, "single", "flag:false"), 1);
    assert_eq!(query(&store, "single", "flag:true"), 1);
    assert_eq!(query(&store, "single", "count:<5"), 1);
    assert_eq!(query(&store, "single", "count:>5"), 1);
    let indexes = store.resolve_indices("single", true).expect("indices");
    let options = QueryStringOptions::default();
    for (q, id) in [("flag:false", "f"), ("flag:true", "t"), ("count:<5", "f")] {
        let request = page(parse_query_string(q, &options).expect("query"), 0, 10);
        let hits = store.search(&indexes, &request).expect("search").hits;
        let ids: Vec<&str> = hits.iter().map(|hit| hit.id.as_str()).collect();
        assert_eq!(ids, [id], "{q}");
    }
}

#[test]
fn prefixes_match_what_their_patterns_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    let rows = [
        ("checkout-7d9f", "Throttled request"),
        ("checkout-abc", "throttling on"),
        ("checkouts", "THROTTLE"),
        ("check", "throttl"),
        ("checkout-\nsplit", "thrott"),
        ("Checkout-upper", "athrottle"),
    ];
    let items = rows
        .iter()
        .enumerate()
        .map(|(i, (pod, message))| {
            item(
                "p",
                Some(&i.to_string()),
                json!({"@timestamp": "2026-11-24T10:00:00Z", "pod": pod, "message": message}),
            )
        })
        .collect();
    store.write(items).expect("write");
    store.refresh().expect("refresh");
    // Text: tokens are lower-cased, and so is the prefix.
    assert_eq!(query(&store, "p", "throttl*"), 4);
    assert_eq!(query(&store, "p", "THROTTL*"), 4);
    assert_eq!(query(&store, "p", "/throttl.*/"), 4);
    assert_eq!(query(&store, "p", "throttl?*"), 3);
    // Keyword: exact bytes, escapes resolved, any character (newlines too) after the prefix.
    assert_eq!(query(&store, "p", "pod.keyword:checkout*"), 4);
    assert_eq!(query(&store, "p", "pod.keyword:checkout\\-*"), 3);
    assert_eq!(query(&store, "p", "pod.keyword:/checkout-.*/"), 3);
    assert_eq!(query(&store, "p", "pod.keyword:check*"), 5);
    assert_eq!(query(&store, "p", "pod.keyword:Check*"), 1);
    assert_eq!(query(&store, "p", "pod.keyword:checkout-?*"), 3);
}

/// `_source` leaves out values its keyword columns hold (see `source_holes`); every way of
/// reading a document back must still return the bytes as sent: search hits and realtime get,
/// from several segments, after a merge renumbers documents, and after a restart.
#[test]
fn sources_come_back_byte_for_byte_across_segments_merges_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources: Vec<String> = (0..60)
        .map(|i| match i % 6 {
            0 => format!(
                r#"{{"@timestamp":"2026-11-20T00:00:{:02}.{i:03}Z","message":"GET /x/{i} \"q\" é","duration_ms":{i}.25,"ratio":1.0,"kubernetes":{{"pod_name":"web-{i}","labels":{{"app":"web"}}}}}}"#,
                i % 60
            ),
            1 => format!(r#"{{ "@timestamp" : "2026-11-20T00:01:00Z" , "message" : "spaced {i}", "bytes" : -{i} }}"#),
            2 => format!(r#"{{"@timestamp":"2026-11-20T00:02:00Z","message":"\u0041 escaped {i}","tags":["x","y"]}}"#),
            3 => format!(r#"{{"@timestamp":"2026-11-20T00:03:00Z","a.b":"dotted {i}","a":{{"c":"nested"}},"n":{i}}}"#),
            4 => format!(r#"{{"@timestamp":"2026-11-20T00:04:00Z","message":"dup","message":"last {i}"}}"#),
            // A later type conflict: `n` is a number above.
            _ => format!(r#"{{"@timestamp":"2026-11-20T00:05:00Z","n":"not a number {i}","message":"{}"}}"#, "z".repeat(300)),
        })
        .collect();
    let write = |store: &Store, range: std::ops::Range<usize>| {
        let items = range
            .map(|i| {
                let source = sources[i].clone().into_bytes();
                let document = serde_json::from_slice::<Value>(&source)
                    .expect("json")
                    .as_object()
                    .cloned();
                WriteItem {
                    op: Op::Index,
                    index: "bytes".into(),
                    id: Some(i.to_string()),
                    source: Some(source),
                    // Parsed by the caller, as the OTLP and forward receivers do.
                    document,
                    timestamp: None,
                    update_doc: None,
                    doc_as_upsert: false,
                    upsert: None,
                }
            })
            .collect();
        store.write(items).expect("write");
        store.refresh().expect("refresh");
    };
    let check = |store: &Store, when: &str| {
        for (i, source) in sources.iter().enumerate() {
            let got = store
                .get_source("bytes", &i.to_string())
                .expect("get")
                .expect("present");
            assert_eq!(String::from_utf8(got).unwrap(), *source, "get {i} {when}");
        }
        let indexes = store.resolve_indices("bytes", true).expect("indices");
        let request = page(QueryAst::MatchAll, 0, 100);
        let hits = store.search(&indexes, &request).expect("search").hits;
        assert_eq!(hits.len(), sources.len(), "{when}");
        for hit in hits {
            let i: usize = hit.id.parse().expect("numeric id");
            assert_eq!(
                String::from_utf8(hit.source).unwrap(),
                sources[i],
                "hit {i} {when}"
            );
        }
    };
    {
        let store = Store::open(StoreConfig::new(dir.path())).expect("open");
        write(&store, 0..20);
        write(&store, 20..40);
        write(&store, 40..60);
        check(&store, "from three segments");
        store.force_merge(vec!["bytes".into()]).expect("merge");
        check(&store, "after the merge");
    }
    let store = Store::open(StoreConfig::new(dir.path())).expect("reopen");
    check(&store, "after a restart");
}

/// `_version` and `_seq_no` of committed documents come from their columns, through merges and
/// restarts.
#[test]
fn versions_and_sequence_numbers_survive_commits_merges_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = |n: u64| json!({"@timestamp": "2026-11-20T00:00:00Z", "n": n});
    let seq_nos = {
        let store = Store::open(StoreConfig::new(dir.path())).expect("open");
        store
            .write(vec![
                item("v", Some("a"), doc(1)),
                item("v", Some("b"), doc(1)),
            ])
            .expect("write");
        store.refresh().expect("refresh");
        store
            .write(vec![item("v", Some("a"), doc(2))])
            .expect("write");
        store.refresh().expect("refresh");
        store
            .write(vec![item("v", Some("a"), doc(3))])
            .expect("write");
        store.refresh().expect("refresh");
        store.force_merge(vec!["v".into()]).expect("merge");
        let a = store.get_document("v", "a").expect("get").expect("a");
        let b = store.get_document("v", "b").expect("get").expect("b");
        assert_eq!((a.version, b.version), (3, 1));
        assert!(a.seq_no > b.seq_no, "{} > {}", a.seq_no, b.seq_no);
        assert_eq!(a.source.as_slice(), serde_json::to_vec(&doc(3)).unwrap());
        (a.seq_no, b.seq_no)
    };
    let store = Store::open(StoreConfig::new(dir.path())).expect("reopen");
    let a = store.get_document("v", "a").expect("get").expect("a");
    let b = store.get_document("v", "b").expect("get").expect("b");
    assert_eq!((a.version, b.version), (3, 1));
    assert_eq!((a.seq_no, b.seq_no), seq_nos);
}

/// Without searches the store stops committing every refresh interval (fewer, larger segments
/// under bulk load); the next search commits first and sees every acknowledged document, and
/// searches keep it refreshing as usual.
#[test]
fn a_search_idle_store_commits_before_the_next_search() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StoreConfig::new(dir.path());
    config.refresh_interval = Duration::from_millis(20);
    config.search_idle_after = Some(Duration::from_millis(300));
    let store = Store::open(config).expect("open");
    let commits = || store.stats().commits.load(Ordering::Relaxed);
    let doc =
        |i: usize| json!({"@timestamp": "2026-11-20T00:00:00Z", "message": format!("line {i}")});
    // A store no one has searched yet starts search idle.
    store
        .write((0..10).map(|i| item("idle", None, doc(i))).collect())
        .expect("write");
    let before = commits();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(commits(), before, "no periodic commit while search idle");
    assert_eq!(
        query(&store, "idle", "line"),
        10,
        "the first search sees every document"
    );
    assert_eq!(
        store.stats().refreshes_before_reads.load(Ordering::Relaxed),
        1
    );
    // Searched recently: commits come every refresh interval again, before any search.
    store
        .write((10..20).map(|i| item("idle", None, doc(i))).collect())
        .expect("write");
    let before = commits();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while commits() == before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(commits() > before, "committed on the refresh interval");
    assert_eq!(query(&store, "idle", "line"), 20);
    assert_eq!(
        store.stats().refreshes_before_reads.load(Ordering::Relaxed),
        1
    );
    // Idle again: a realtime get and an update find documents with generated ids at once.
    std::thread::sleep(Duration::from_millis(400));
    let id = |outcomes: Vec<osprey_store::ItemOutcome>| outcomes[0].id.clone();
    let got = id(store
        .write(vec![item("idle", None, doc(20))])
        .expect("write"));
    let found = store.get_document("idle", &got).expect("get");
    assert!(found.is_some(), "realtime get of a generated id");
    std::thread::sleep(Duration::from_millis(400));
    let updated = id(store
        .write(vec![item("idle", None, doc(21))])
        .expect("write"));
    let mut update = item("idle", Some(&updated), json!({}));
    update.op = Op::Update;
    update.source = None;
    update.document = None;
    update.update_doc = json!({"level": "WARN"}).as_object().cloned();
    let outcome = &store.write(vec![update]).expect("update")[0];
    assert_eq!((outcome.status, outcome.error.clone()), (200, None));
}

/// `exists` reads columns for values that have an exact value and `_names` for the rest (long
/// text, conflicting values); objects exist when anything below them does.
#[test]
fn exists_finds_every_kind_of_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(StoreConfig::new(dir.path())).expect("open");
    let long = "word ".repeat(60);
    let docs = [
        json!({"@timestamp": "2026-11-20T00:00:00Z", "status": 200, "short": "a"}),
        json!({"@timestamp": "2026-11-20T00:00:01Z", "status": "not a number", "long": long}),
        json!({"k8s": {"labels": {"app": "web"}}, "obj": {"deep": {"text": long}}}),
        json!({"a": "x", "ab": "y", "flag": false, "empty": "", "nothing": null, "none": []}),
        json!({"a.x": 1, "tags": ["t1", "t2"], "when": "2026-11-20"}),
    ];
    let items = docs
        .iter()
        .enumerate()
        .map(|(i, d)| item("ex", Some(&i.to_string()), d.clone()))
        .collect();
    store.write(items).expect("write");
    store.refresh().expect("refresh");
    let expectations = [
        ("_exists_:status", 2),
        ("_exists_:short", 1),
        ("_exists_:long", 1),
        ("_exists_:k8s", 1),
        ("_exists_:k8s.labels", 1),
        ("_exists_:k8s.labels.app", 1),
        ("_exists_:obj", 1),
        ("_exists_:obj.deep", 1),
        ("_exists_:a", 1),
        ("_exists_:ab", 1),
        ("_exists_:a.x", 1),
        ("_exists_:flag", 1),
        ("_exists_:empty", 1),
        ("_exists_:nothing", 0),
        ("_exists_:none", 0),
        ("_exists_:tags", 1),
        ("_exists_:when", 1),
        ("_exists_:@timestamp", 2),
        ("_exists_:nosuchfield", 0),
        ("_exists_:k8s.*", 1),
    ];
    for (q, expected) in expectations {
        assert_eq!(query(&store, "ex", q), expected, "{q}");
    }
}
