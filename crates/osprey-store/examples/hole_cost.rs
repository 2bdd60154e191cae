use std::time::Instant;
use tantivy::{Index, DocAddress};
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let index = Index::open_in_dir(&dir).unwrap();
    let reader = index.reader().unwrap();
    let searcher = reader.searcher();
    let seg = searcher.segment_reader(0);
    let n = seg.max_doc();
    let paths = ["message","request_id","path","remote_addr","user_agent","logger","kubernetes.pod_name","kubernetes.namespace_name","kubernetes.host","kubernetes.labels.app","level","stream","method","http_host","kubernetes.container_name","kubernetes.labels.pod-template-hash"];
    for round in 0..3 {
        let t = Instant::now();
        let cols: Vec<_> = paths.iter().map(|p| seg.fast_fields().str(&format!("k.{p}")).unwrap()).collect();
        let open = t.elapsed();
        let mut per = vec![std::time::Duration::ZERO; paths.len()];
        let mut s = String::new();
        for d in 0..200u32 {
            let doc = (d * 7919 + round * 13) % n;
            for (i, c) in cols.iter().enumerate() {
                let Some(c) = c else { continue };
                let t = Instant::now();
                if let Some(o) = c.term_ords(doc).next() { c.ord_to_str(o, &mut s).unwrap(); }
                per[i] += t.elapsed();
            }
        }
        println!("open all {:?}", open);
        for (p, d) in paths.iter().zip(&per) { println!("  {p}: {:?}/lookup terms={}", *d / 200, cols[paths.iter().position(|x| x==p).unwrap()].as_ref().map(|c| c.num_terms()).unwrap_or(0)); }
    }
    let _ = DocAddress::new(0,0);
    let t = Instant::now();
    for _ in 0..1000 { let d = zstd::bulk::Decompressor::new().unwrap(); std::hint::black_box(&d); }
    println!("Decompressor::new {:?}", t.elapsed() / 1000);
}
#[allow(dead_code)]
fn dctx() {}
