// Baseline for Osprey's benchmarks: raw Lucene 8.7 indexing and searching the same
// NDJSON documents and query strings, approximating what an Elasticsearch node does
// with dynamic mapping (minus translog, replication, refresh and HTTP overhead).
//
//   java -cp ... LuceneBench index NDJSON INDEXDIR [--threads N] [--not-indexed F1,F2] [--json]
//     (--not-indexed: top-level objects kept in _source but not indexed, ES's "enabled": false)
//   java -cp ... LuceneBench query INDEXDIR queries.tsv REPEAT [--warmup N] [--json]
//
// No dependencies besides the Lucene jars; JSON is parsed by a small built-in parser.

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.DelegatingAnalyzerWrapper;
import org.apache.lucene.analysis.core.KeywordAnalyzer;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.DoublePoint;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.LongPoint;
import org.apache.lucene.document.NumericDocValuesField;
import org.apache.lucene.document.SortedNumericDocValuesField;
import org.apache.lucene.document.SortedSetDocValuesField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.queryparser.classic.ParseException;
import org.apache.lucene.queryparser.classic.QueryParser;
import org.apache.lucene.index.DocValues;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.NumericDocValues;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.DocValuesFieldExistsQuery;
import org.apache.lucene.search.IndexOrDocValuesQuery;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.MultiCollector;
import org.apache.lucene.search.Sort;
import org.apache.lucene.search.SortField;
import org.apache.lucene.search.SortedNumericSortField;
import org.apache.lucene.search.TopFieldCollector;
import org.apache.lucene.index.SortedNumericDocValues;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.NormsFieldExistsQuery;
import org.apache.lucene.search.ScoreMode;
import org.apache.lucene.search.SimpleCollector;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.TopScoreDocCollector;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.BytesRef;
import org.apache.lucene.util.NumericUtils;

public final class LuceneBench {

    public static void main(String[] args) throws Exception {
        if (args.length >= 3 && args[0].equals("index")) {
            index(Paths.get(args[1]), Paths.get(args[2]), Arrays.copyOfRange(args, 3, args.length));
        } else if (args.length >= 4 && args[0].equals("query")) {
            query(Paths.get(args[1]), Paths.get(args[2]), Integer.parseInt(args[3]),
                    Arrays.copyOfRange(args, 4, args.length));
        } else if (args.length >= 4 && args[0].equals("discover")) {
            discover(Paths.get(args[1]), Paths.get(args[2]), Integer.parseInt(args[3]),
                    Arrays.copyOfRange(args, 4, args.length));
        } else if (args.length >= 3 && args[0].equals("ids")) {
            ids(Paths.get(args[1]), Paths.get(args[2]), Arrays.copyOfRange(args, 3, args.length));
        } else {
            System.err.println("usage: LuceneBench index NDJSON INDEXDIR [--threads N] [--json]\n"
                    + "       LuceneBench query INDEXDIR queries.tsv REPEAT [--warmup N] [--json]\n"
                    + "       LuceneBench ids INDEXDIR queries.tsv [--default-field F]\n"
                    + "  ids: every matching document of every query, as 0-based input line numbers\n"
                    + "       (index with --threads 1 so line numbers and first-seen field types are stable)");
            System.exit(2);
        }
    }

    static String strOpt(String[] opts, String name, String dflt) {
        for (int i = 0; i + 1 < opts.length; i++) {
            if (opts[i].equals(name)) {
                return opts[i + 1];
            }
        }
        return dflt;
    }

    static boolean flag(String[] opts, String name) {
        return Arrays.asList(opts).contains(name);
    }

    static int intOpt(String[] opts, String name, int dflt) {
        for (int i = 0; i + 1 < opts.length; i++) {
            if (opts[i].equals(name)) {
                return Integer.parseInt(opts[i + 1]);
            }
        }
        return dflt;
    }

    // ------------------------------------------------------------------ analysis

    /** StandardAnalyzer without stop words (as Elasticsearch's `standard`), keyword for `*.keyword`. */
    static Analyzer analyzer() {
        Analyzer standard = new StandardAnalyzer(CharArraySet.EMPTY_SET);
        Analyzer keyword = new KeywordAnalyzer();
        return new DelegatingAnalyzerWrapper(Analyzer.PER_FIELD_REUSE_STRATEGY) {
            @Override
            protected Analyzer getWrappedAnalyzer(String field) {
                return field.endsWith(".keyword") || field.startsWith("_") ? keyword : standard;
            }
        };
    }

    // ------------------------------------------------------------------ indexing

    static final String LONG = "long", DOUBLE = "double", DATE = "date", TEXT = "text", BOOL = "boolean";

    static void index(Path input, Path dir, String[] opts) throws Exception {
        int threads = intOpt(opts, "--threads", Runtime.getRuntime().availableProcessors());
        boolean json = flag(opts, "--json");
        List<String> notIndexed = new ArrayList<>();
        for (int i = 0; i + 1 < opts.length; i++) {
            if (opts[i].equals("--not-indexed")) {
                notIndexed.addAll(Arrays.asList(opts[i + 1].split(",")));
            }
        }
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
        Files.createDirectories(dir);
        IndexWriterConfig cfg = new IndexWriterConfig(analyzer());
        cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
        cfg.setRAMBufferSizeMB(256);
        ConcurrentHashMap<String, String> mapping = new ConcurrentHashMap<>();
        AtomicLong docs = new AtomicLong();
        AtomicLong rawBytes = new AtomicLong();
        AtomicLong seqNo = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<String> poison = new ArrayList<>();
        BlockingQueue<List<String>> queue = new ArrayBlockingQueue<>(threads * 4);

        long t0 = System.nanoTime();
        try (FSDirectory fsdir = FSDirectory.open(dir); IndexWriter writer = new IndexWriter(fsdir, cfg)) {
            Thread[] workers = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                workers[t] = new Thread(() -> {
                    try {
                        while (true) {
                            List<String> batch = queue.take();
                            if (batch == poison) {
                                return;
                            }
                            for (String line : batch) {
                                Object parsed = new Json(line).parseTop();
                                if (!(parsed instanceof Map)) {
                                    throw new IllegalArgumentException("not a JSON object: " + line);
                                }
                                Document doc = new Document();
                                long seq = seqNo.getAndIncrement();
                                doc.add(new StringField("_id", esId(seq), Field.Store.YES));
                                doc.add(new LongPoint("_seq_no", seq));
                                doc.add(new NumericDocValuesField("_seq_no", seq));
                                doc.add(new NumericDocValuesField("_primary_term", 1));
                                doc.add(new NumericDocValuesField("_version", 1));
                                doc.add(new StoredField("_source", new BytesRef(line)));
                                for (String key : notIndexed) {
                                    ((Map<?, ?>) parsed).remove(key);
                                }
                                addFields(doc, "", (Map<?, ?>) parsed, mapping);
                                writer.addDocument(doc);
                            }
                            docs.addAndGet(batch.size());
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                        queue.clear();
                    }
                }, "indexer-" + t);
                workers[t].start();
            }
            long lastProgress = System.nanoTime();
            try (BufferedReader r = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
                List<String> batch = new ArrayList<>(1000);
                String line;
                while ((line = r.readLine()) != null && failure.get() == null) {
                    if (line.isEmpty()) {
                        continue;
                    }
                    rawBytes.addAndGet(utf8Length(line) + 1);
                    batch.add(line);
                    if (batch.size() == 1000) {
                        queue.put(batch);
                        batch = new ArrayList<>(1000);
                    }
                    if (System.nanoTime() - lastProgress > 5_000_000_000L) {
                        lastProgress = System.nanoTime();
                        System.err.printf(Locale.ROOT, "lucene index: %d docs in %.1fs%n", docs.get(),
                                (lastProgress - t0) / 1e9);
                    }
                }
                if (!batch.isEmpty()) {
                    queue.put(batch);
                }
            }
            for (int t = 0; t < threads; t++) {
                queue.put(poison);
            }
            for (Thread w : workers) {
                w.join();
            }
            if (failure.get() != null) {
                throw new RuntimeException("indexing failed", failure.get());
            }
            Map<String, String> userData = new HashMap<>();
            for (Map.Entry<String, String> e : mapping.entrySet()) {
                userData.put("mapping." + e.getKey(), e.getValue());
            }
            writer.setLiveCommitData(userData.entrySet());
            writer.commit();
        }
        long t1 = System.nanoTime();
        double secs = (t1 - t0) / 1e9;
        long indexBytes = dirSize(dir);
        long segments;
        try (DirectoryReader reader = DirectoryReader.open(FSDirectory.open(dir))) {
            segments = reader.leaves().size();
        }
        long n = docs.get();
        long raw = rawBytes.get();
        long hwm = vmHwmBytes();
        if (json) {
            System.out.printf(Locale.ROOT,
                    "{\"docs\":%d,\"raw_bytes\":%d,\"secs\":%.3f,\"docs_per_s\":%.1f,\"mb_per_s\":%.3f,"
                            + "\"index_bytes\":%d,\"segments\":%d,\"threads\":%d,\"peak_rss_bytes\":%d}%n",
                    n, raw, secs, n / secs, raw / 1e6 / secs, indexBytes, segments, threads, hwm);
        } else {
            System.out.printf(Locale.ROOT, "docs:          %d%n", n);
            System.out.printf(Locale.ROOT, "raw bytes:     %d (%.1f MB)%n", raw, raw / 1e6);
            System.out.printf(Locale.ROOT, "total time:    %.2f s (incl. final commit, %d indexing threads)%n",
                    secs, threads);
            System.out.printf(Locale.ROOT, "throughput:    %.0f docs/s, %.2f MB/s%n", n / secs, raw / 1e6 / secs);
            System.out.printf(Locale.ROOT, "index size:    %d bytes (%.1f MB, %.3fx raw), %d segments%n",
                    indexBytes, indexBytes / 1e6, (double) indexBytes / raw, segments);
            System.out.printf(Locale.ROOT, "peak RSS:      %.1f MB%n", hwm / 1e6);
        }
    }

    /** A 20-character, URL-safe, time-ordered id like Elasticsearch's auto-generated ones. */
    static String esId(long seq) {
        final String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        long x = seq * 0x9E3779B97F4A7C15L;
        long ts = 1_795_000_000_000L + seq;
        char[] c = new char[20];
        for (int i = 0; i < 9; i++) {
            c[i] = alphabet.charAt((int) ((ts >>> (6 * (8 - i))) & 63));
        }
        for (int i = 9; i < 20; i++) {
            c[i] = alphabet.charAt((int) (x & 63));
            x >>>= 6;
            x ^= seq + i;
        }
        return new String(c);
    }

    static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch < 0x80) {
                n += 1;
            } else if (ch < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(ch)) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    static void addFields(Document doc, String prefix, Map<?, ?> obj, ConcurrentHashMap<String, String> mapping) {
        for (Map.Entry<?, ?> e : obj.entrySet()) {
            addValue(doc, prefix + e.getKey(), e.getValue(), mapping);
        }
    }

    static void addValue(Document doc, String name, Object v, ConcurrentHashMap<String, String> mapping) {
        if (v == null) {
            return;
        }
        if (v instanceof Map) {
            addFields(doc, name + ".", (Map<?, ?>) v, mapping);
            return;
        }
        if (v instanceof List) {
            for (Object item : (List<?>) v) {
                addValue(doc, name, item, mapping);
            }
            return;
        }
        String dynamic;
        if (v instanceof String) {
            dynamic = name.equals("@timestamp") ? DATE : TEXT;
        } else if (v instanceof Long) {
            dynamic = LONG;
        } else if (v instanceof Double) {
            dynamic = DOUBLE;
        } else {
            dynamic = BOOL;
        }
        String type = mapping.computeIfAbsent(name, k -> dynamic);
        switch (type) {
            case TEXT: {
                String s = v.toString();
                doc.add(new TextField(name, s, Field.Store.NO));
                if (s.length() <= 256) { // ignore_above: 256
                    doc.add(new StringField(name + ".keyword", s, Field.Store.NO));
                    doc.add(new SortedSetDocValuesField(name + ".keyword", new BytesRef(s)));
                }
                break;
            }
            case LONG: {
                long l;
                if (v instanceof Number) {
                    l = ((Number) v).longValue(); // coerce, like ES
                } else {
                    return; // ES would reject the document; we just skip the field
                }
                doc.add(new LongPoint(name, l));
                doc.add(new SortedNumericDocValuesField(name, l));
                break;
            }
            case DOUBLE: {
                if (!(v instanceof Number)) {
                    return;
                }
                double d = ((Number) v).doubleValue();
                doc.add(new DoublePoint(name, d));
                doc.add(new SortedNumericDocValuesField(name, NumericUtils.doubleToSortableLong(d)));
                break;
            }
            case DATE: {
                long ms;
                try {
                    ms = parseDate(v.toString());
                } catch (RuntimeException ex) {
                    return;
                }
                doc.add(new LongPoint(name, ms));
                doc.add(new SortedNumericDocValuesField(name, ms));
                break;
            }
            default: {
                boolean b = Boolean.TRUE.equals(v) || "true".equals(v);
                doc.add(new StringField(name, b ? "T" : "F", Field.Store.NO));
                doc.add(new SortedNumericDocValuesField(name, b ? 1 : 0));
            }
        }
    }

    static long parseDate(String s) {
        // Elasticsearch date math, the forms the conformance queries use: now, now-Nd, now+Nh.
        java.util.regex.Matcher now = java.util.regex.Pattern.compile("now(?:([+-])(\\d+)([dhm]))?").matcher(s);
        if (now.matches()) {
            long millis = System.currentTimeMillis();
            if (now.group(1) != null) {
                long unit = now.group(3).equals("d") ? 86_400_000L : now.group(3).equals("h") ? 3_600_000L : 60_000L;
                long delta = Long.parseLong(now.group(2)) * unit;
                millis += now.group(1).equals("-") ? -delta : delta;
            }
            return millis;
        }
        if (s.matches("-?\\d+")) {
            return Long.parseLong(s); // epoch millis
        }
        try {
            return Instant.parse(s).toEpochMilli();
        } catch (DateTimeParseException e) {
            try {
                return OffsetDateTime.parse(s).toInstant().toEpochMilli();
            } catch (DateTimeParseException e2) {
                if (s.matches("\\d{4}-\\d{2}-\\d{2}")) {
                    return Instant.parse(s + "T00:00:00Z").toEpochMilli();
                }
                return Instant.parse(s + "Z").toEpochMilli();
            }
        }
    }

    static long dirSize(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    static long vmHwmBytes() {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux
        }
        return -1;
    }

    // ------------------------------------------------------------------ querying

    /** Classic query parser with Elasticsearch's numeric/date handling for mapped fields. */
    static final class EsQueryParser extends QueryParser {
        private final Map<String, String> mapping;

        EsQueryParser(String defaultField, Analyzer analyzer, Map<String, String> mapping) {
            super(defaultField, analyzer);
            this.mapping = mapping;
            setAllowLeadingWildcard(true); // ES query_string default
        }

        /** Elasticsearch: a clause list with only prohibited clauses means "all but these". */
        @Override
        protected Query getBooleanQuery(List<BooleanClause> clauses) throws ParseException {
            Query q = super.getBooleanQuery(clauses);
            if (q instanceof BooleanQuery) {
                BooleanQuery bq = (BooleanQuery) q;
                boolean onlyProhibited = !bq.clauses().isEmpty();
                for (BooleanClause c : bq.clauses()) {
                    onlyProhibited &= c.getOccur() == BooleanClause.Occur.MUST_NOT;
                }
                if (onlyProhibited) {
                    BooleanQuery.Builder b = new BooleanQuery.Builder();
                    b.add(new MatchAllDocsQuery(), BooleanClause.Occur.MUST);
                    for (BooleanClause c : bq.clauses()) {
                        b.add(c);
                    }
                    return b.build();
                }
            }
            return q;
        }

        /** Elasticsearch's `_exists_:field`: text by its norms, everything else by doc values. */
        private Query exists(String field) {
            BooleanQuery.Builder b = new BooleanQuery.Builder();
            int n = 0;
            for (Map.Entry<String, String> e : mapping.entrySet()) {
                String name = e.getKey();
                if (!name.equals(field) && !name.startsWith(field + ".")) {
                    continue;
                }
                b.add(TEXT.equals(e.getValue()) ? new NormsFieldExistsQuery(name)
                        : new DocValuesFieldExistsQuery(name), BooleanClause.Occur.SHOULD);
                n++;
            }
            if (field.endsWith(".keyword")) {
                b.add(new DocValuesFieldExistsQuery(field), BooleanClause.Occur.SHOULD);
                n++;
            }
            return n == 0 ? new MatchNoDocsQuery() : new ConstantScoreQuery(b.build());
        }

        @Override
        protected Query getFieldQuery(String field, String queryText, boolean quoted) throws ParseException {
            if ("_exists_".equals(field)) {
                return exists(queryText);
            }
            String type = mapping.get(field);
            if (BOOL.equals(type)) {
                // Indexed as T/F, as Elasticsearch's boolean field does.
                if ("true".equals(queryText) || "false".equals(queryText)) {
                    return new TermQuery(new Term(field, "true".equals(queryText) ? "T" : "F"));
                }
                throw new ParseException("failed to parse [" + queryText + "] as a boolean");
            }
            if (!quoted && (LONG.equals(type) || DOUBLE.equals(type) || DATE.equals(type))) {
                // ES extension: field:>v, field:>=v, field:<v, field:<=v
                if (queryText.startsWith(">=")) {
                    return numericRange(field, type, queryText.substring(2), null, true, true);
                } else if (queryText.startsWith(">")) {
                    return numericRange(field, type, queryText.substring(1), null, false, true);
                } else if (queryText.startsWith("<=")) {
                    return numericRange(field, type, null, queryText.substring(2), true, true);
                } else if (queryText.startsWith("<")) {
                    return numericRange(field, type, null, queryText.substring(1), true, false);
                }
                return numericRange(field, type, queryText, queryText, true, true);
            }
            if (!quoted && field.endsWith(".keyword")) {
                return new TermQuery(new Term(field, queryText));
            }
            return super.getFieldQuery(field, queryText, quoted);
        }

        @Override
        protected Query getRangeQuery(String field, String part1, String part2, boolean startInclusive,
                boolean endInclusive) throws ParseException {
            String type = mapping.get(field);
            if (LONG.equals(type) || DOUBLE.equals(type) || DATE.equals(type)) {
                return numericRange(field, type, part1, part2, startInclusive, endInclusive);
            }
            return super.getRangeQuery(field, part1, part2, startInclusive, endInclusive);
        }

        private Query numericRange(String field, String type, String lo, String hi, boolean loInc, boolean hiInc)
                throws ParseException {
            boolean openLo = lo == null || lo.equals("*");
            boolean openHi = hi == null || hi.equals("*");
            try {
                if (DOUBLE.equals(type)) {
                    double a = openLo ? Double.NEGATIVE_INFINITY : Double.parseDouble(lo);
                    double b = openHi ? Double.POSITIVE_INFINITY : Double.parseDouble(hi);
                    if (!openLo && !loInc) {
                        a = Math.nextUp(a);
                    }
                    if (!openHi && !hiInc) {
                        b = Math.nextDown(b);
                    }
                    return new IndexOrDocValuesQuery(DoublePoint.newRangeQuery(field, a, b),
                            SortedNumericDocValuesField.newSlowRangeQuery(field,
                                    NumericUtils.doubleToSortableLong(a), NumericUtils.doubleToSortableLong(b)));
                }
                long a;
                long b;
                if (DATE.equals(type)) {
                    a = openLo ? Long.MIN_VALUE : parseDate(lo);
                    b = openHi ? Long.MAX_VALUE : parseDate(hi);
                } else {
                    // Decimal bounds on an integer field: round inward like ES does.
                    a = openLo ? Long.MIN_VALUE : (long) Math.ceil(Double.parseDouble(lo));
                    b = openHi ? Long.MAX_VALUE : (long) Math.floor(Double.parseDouble(hi));
                    if (!openLo && lo.matches("-?\\d+")) {
                        a = Long.parseLong(lo);
                    }
                    if (!openHi && hi.matches("-?\\d+")) {
                        b = Long.parseLong(hi);
                    }
                }
                if (!openLo && !loInc) {
                    a = a == Long.MAX_VALUE ? a : a + 1;
                }
                if (!openHi && !hiInc) {
                    b = b == Long.MIN_VALUE ? b : b - 1;
                }
                return new IndexOrDocValuesQuery(LongPoint.newRangeQuery(field, a, b),
                        SortedNumericDocValuesField.newSlowRangeQuery(field, a, b));
            } catch (RuntimeException e) {
                throw new ParseException("bad " + type + " bound for " + field + ": " + e.getMessage());
            }
        }
    }

    static final class Q {
        final String cls;
        final String text;
        long hits = -1;
        String error;
        final long[] nanos;
        int n;

        Q(String cls, String text, int repeat) {
            this.cls = cls;
            this.text = text;
            this.nanos = new long[repeat];
        }
    }

    static void query(Path dir, Path queriesFile, int repeat, String[] opts) throws Exception {
        int warmup = intOpt(opts, "--warmup", 2);
        boolean json = flag(opts, "--json");
        List<Q> queries = new ArrayList<>();
        for (String line : Files.readAllLines(queriesFile, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int tab = line.indexOf('\t');
            if (tab < 0) {
                throw new IllegalArgumentException("expected class<TAB>query: " + line);
            }
            queries.add(new Q(line.substring(0, tab).trim(), line.substring(tab + 1), repeat));
        }
        try (DirectoryReader reader = DirectoryReader.open(FSDirectory.open(dir))) {
            Map<String, String> mapping = mappingOf(reader);
            IndexSearcher searcher = new IndexSearcher(reader);
            Analyzer analyzer = analyzer();
            for (int round = 0; round < warmup + repeat; round++) {
                for (Q q : queries) {
                    if (q.error != null) {
                        continue;
                    }
                    long t = System.nanoTime();
                    try {
                        // Parse per run: Elasticsearch parses the query string on every request too.
                        EsQueryParser parser = new EsQueryParser("message", analyzer, mapping);
                        Query parsed = parser.parse(q.text);
                        // One pass for top-10 by score plus an exact total (track_total_hits: true).
                        TopScoreDocCollector c = TopScoreDocCollector.create(10, Integer.MAX_VALUE);
                        searcher.search(parsed, c);
                        TopDocs td = c.topDocs();
                        for (ScoreDoc sd : td.scoreDocs) {
                            searcher.doc(sd.doc); // fetch phase: load _source
                        }
                        long dt = System.nanoTime() - t;
                        if (round >= warmup) {
                            q.nanos[q.n++] = dt;
                        }
                        q.hits = td.totalHits.value;
                    } catch (ParseException | RuntimeException e) {
                        q.error = e.toString();
                        System.err.println("lucene query: " + q.cls + " `" + q.text + "` failed: " + e);
                    }
                }
            }
        }
        Map<String, List<Q>> byClass = new LinkedHashMap<>();
        for (Q q : queries) {
            byClass.computeIfAbsent(q.cls, k -> new ArrayList<>()).add(q);
            Arrays.sort(q.nanos, 0, q.n);
        }
        if (json) {
            for (Q q : queries) {
                System.out.printf(Locale.ROOT,
                        "{\"type\":\"query\",\"class\":%s,\"query\":%s,\"hits\":%s,\"runs\":%d,\"p50_us\":%.1f,"
                                + "\"p99_us\":%.1f,\"error\":%s}%n",
                        Json.quote(q.cls), Json.quote(q.text), q.hits < 0 ? "null" : Long.toString(q.hits), q.n,
                        pct(q.nanos, q.n, 0.5) / 1e3, pct(q.nanos, q.n, 0.99) / 1e3,
                        q.error == null ? "null" : Json.quote(q.error));
            }
        } else {
            System.out.printf(Locale.ROOT, "%-10s %10s %10s %10s  query%n", "class", "hits", "p50 us", "p99 us");
            for (Q q : queries) {
                System.out.printf(Locale.ROOT, "%-10s %10s %10.1f %10.1f  %s%n", q.cls,
                        q.error != null ? "ERROR" : Long.toString(q.hits), pct(q.nanos, q.n, 0.5) / 1e3,
                        pct(q.nanos, q.n, 0.99) / 1e3, q.text);
            }
            System.out.println();
            System.out.printf(Locale.ROOT, "%-10s %7s %7s %10s %10s %12s %6s%n", "class", "queries", "runs", "p50 us",
                    "p99 us", "total hits", "errors");
        }
        for (Map.Entry<String, List<Q>> e : byClass.entrySet()) {
            int total = 0;
            long hits = 0;
            int errors = 0;
            for (Q q : e.getValue()) {
                total += q.n;
                hits += Math.max(0, q.hits);
                errors += q.error == null ? 0 : 1;
            }
            long[] all = new long[total];
            int k = 0;
            for (Q q : e.getValue()) {
                System.arraycopy(q.nanos, 0, all, k, q.n);
                k += q.n;
            }
            Arrays.sort(all);
            if (json) {
                System.out.printf(Locale.ROOT,
                        "{\"type\":\"class\",\"class\":%s,\"queries\":%d,\"runs\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,"
                                + "\"hits\":%d,\"errors\":%d}%n",
                        Json.quote(e.getKey()), e.getValue().size(), total, pct(all, total, 0.5) / 1e3,
                        pct(all, total, 0.99) / 1e3, hits, errors);
            } else {
                System.out.printf(Locale.ROOT, "%-10s %7d %7d %10.1f %10.1f %12d %6d%n", e.getKey(),
                        e.getValue().size(), total, pct(all, total, 0.5) / 1e3, pct(all, total, 0.99) / 1e3, hits,
                        errors);
            }
        }
    }

    /** Osprey's automatic histogram interval (crates/osprey-server/src/api.rs `auto_interval`). */
    static long autoInterval(long spanMs) {
        long[] intervals = {1, 10, 100, 1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
                10800000, 21600000, 43200000, 86400000L, 604800000L, 1209600000L, 2592000000L, 31536000000L};
        for (long interval : intervals) {
            if (spanMs / interval <= 60) {
                return interval;
            }
        }
        return intervals[intervals.length - 1];
    }

    /** Counts matching documents per histogram bucket from the @timestamp doc values. */
    static final class HistogramCollector extends SimpleCollector {
        final long from;
        final long interval;
        final long[] counts;
        SortedNumericDocValues values;

        HistogramCollector(long from, long to, long interval) {
            this.from = from - Math.floorMod(from, interval);
            this.interval = interval;
            this.counts = new long[(int) ((to - this.from) / interval) + 1];
        }

        @Override
        protected void doSetNextReader(LeafReaderContext context) throws IOException {
            values = DocValues.getSortedNumeric(context.reader(), "@timestamp");
        }

        @Override
        public void collect(int doc) throws IOException {
            if (values.advanceExact(doc)) {
                long bucket = (values.nextValue() - from) / interval;
                if (bucket >= 0 && bucket < counts.length) {
                    counts[(int) bucket]++;
                }
            }
        }

        @Override
        public ScoreMode scoreMode() {
            return ScoreMode.COMPLETE_NO_SCORES;
        }
    }

    /**
     * Discover's first page, as Elasticsearch computes it: the query with a filter on the time
     * window, the 100 newest hits (sorted on @timestamp doc values) with their stored source,
     * the exact total and a date histogram, in one pass over the matches.
     * `bench/discover.tsv`: name<TAB>window<TAB>query; `--end MS` ends every window.
     */
    static void discover(Path dir, Path queriesFile, int repeat, String[] opts) throws Exception {
        int warmup = intOpt(opts, "--warmup", 2);
        long end = Long.parseLong(strOpt(opts, "--end", "1795564800000"));
        try (DirectoryReader reader = DirectoryReader.open(FSDirectory.open(dir))) {
            Map<String, String> mapping = mappingOf(reader);
            IndexSearcher searcher = new IndexSearcher(reader);
            Analyzer analyzer = analyzer();
            Sort newestFirst = new Sort(new SortedNumericSortField("@timestamp", SortField.Type.LONG, true));
            for (String line : Files.readAllLines(queriesFile, StandardCharsets.UTF_8)) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] parts = line.split("\t", 3);
                String name = parts[0];
                String window = parts[1];
                String text = parts.length > 2 ? parts[2] : "";
                long windowMs = Long.parseLong(window.substring(0, window.length() - 1)) * switch (window.charAt(window.length() - 1)) {
                    case 'd' -> 86400000L;
                    case 'h' -> 3600000L;
                    case 'm' -> 60000L;
                    default -> 1000L;
                };
                long from = end - windowMs;
                long to = end - 1;
                long[] nanos = new long[repeat];
                long hits = 0;
                int buckets = 0;
                for (int round = 0; round < warmup + repeat; round++) {
                    long t = System.nanoTime();
                    Query parsed = text.isBlank() ? new MatchAllDocsQuery()
                            : new EsQueryParser("message", analyzer, mapping).parse(text);
                    Query query = new BooleanQuery.Builder()
                            .add(parsed, BooleanClause.Occur.MUST)
                            .add(LongPoint.newRangeQuery("@timestamp", from, to), BooleanClause.Occur.FILTER)
                            .build();
                    TopFieldCollector top = TopFieldCollector.create(newestFirst, 100, Integer.MAX_VALUE);
                    HistogramCollector histogram = new HistogramCollector(from, to, autoInterval(to - from));
                    searcher.search(query, MultiCollector.wrap(top, histogram));
                    TopDocs docs = top.topDocs();
                    for (ScoreDoc sd : docs.scoreDocs) {
                        searcher.doc(sd.doc);
                    }
                    long dt = System.nanoTime() - t;
                    if (round >= warmup) {
                        nanos[round - warmup] = dt;
                    }
                    hits = docs.totalHits.value;
                    buckets = histogram.counts.length;
                    long counted = Arrays.stream(histogram.counts).sum();
                    if (counted != hits) {
                        throw new IllegalStateException(name + ": histogram counts " + counted + " of " + hits);
                    }
                }
                Arrays.sort(nanos);
                System.out.printf(Locale.ROOT,
                        "{\"type\":\"discover\",\"name\":%s,\"window\":%s,\"hits\":%d,\"buckets\":%d,\"runs\":%d,"
                                + "\"p50_us\":%.1f,\"p99_us\":%.1f}%n",
                        Json.quote(name), Json.quote(window), hits, buckets, repeat,
                        pct(nanos, repeat, 0.5) / 1e3, pct(nanos, repeat, 0.99) / 1e3);
            }
        }
    }

    /** The field types `index` learnt, from the commit's user data. */
    static Map<String, String> mappingOf(DirectoryReader reader) throws IOException {
        Map<String, String> mapping = new HashMap<>();
        for (Map.Entry<String, String> e : reader.getIndexCommit().getUserData().entrySet()) {
            if (e.getKey().startsWith("mapping.")) {
                mapping.put(e.getKey().substring("mapping.".length()), e.getValue());
            }
        }
        return mapping;
    }

    /**
     * The conformance oracle: for each query of `queries.tsv`, the 0-based input line numbers of
     * every matching document (from `_seq_no`), or the parse error, as one JSON line.
     */
    static void ids(Path dir, Path queriesFile, String[] opts) throws Exception {
        String defaultField = strOpt(opts, "--default-field", "message");
        try (DirectoryReader reader = DirectoryReader.open(FSDirectory.open(dir))) {
            Map<String, String> mapping = mappingOf(reader);
            IndexSearcher searcher = new IndexSearcher(reader);
            Analyzer analyzer = analyzer();
            for (String line : Files.readAllLines(queriesFile, StandardCharsets.UTF_8)) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                int tab = line.indexOf('\t');
                String cls = tab < 0 ? "" : line.substring(0, tab).trim();
                String text = tab < 0 ? line : line.substring(tab + 1);
                StringBuilder out = new StringBuilder();
                out.append("{\"class\":").append(Json.quote(cls)).append(",\"query\":").append(Json.quote(text));
                try {
                    Query parsed = new EsQueryParser(defaultField, analyzer, mapping).parse(text);
                    List<Long> found = new ArrayList<>();
                    searcher.search(parsed, new SimpleCollector() {
                        private NumericDocValues seq;

                        @Override
                        protected void doSetNextReader(LeafReaderContext context) throws IOException {
                            seq = DocValues.getNumeric(context.reader(), "_seq_no");
                        }

                        @Override
                        public void collect(int doc) throws IOException {
                            if (seq.advanceExact(doc)) {
                                found.add(seq.longValue());
                            }
                        }

                        @Override
                        public ScoreMode scoreMode() {
                            return ScoreMode.COMPLETE_NO_SCORES;
                        }
                    });
                    Collections.sort(found);
                    out.append(",\"lucene\":").append(Json.quote(parsed.toString())).append(",\"ids\":[");
                    for (int i = 0; i < found.size(); i++) {
                        out.append(i == 0 ? "" : ",").append(found.get(i));
                    }
                    out.append("]}");
                } catch (ParseException | RuntimeException e) {
                    out.append(",\"error\":").append(Json.quote(String.valueOf(e.getMessage()))).append("}");
                }
                System.out.println(out);
            }
        }
    }

    /** Nearest-rank percentile of the first n (sorted) values. */
    static double pct(long[] sorted, int n, double q) {
        if (n == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(q * n);
        return sorted[Math.min(Math.max(rank, 1), n) - 1];
    }

    // ------------------------------------------------------------------ JSON

    /** Minimal JSON parser: objects to LinkedHashMap, arrays to ArrayList, numbers to Long or Double. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object parseTop() {
            Object v = value();
            ws();
            if (i != s.length()) {
                throw error("trailing characters");
            }
            return v;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException(what + " at offset " + i);
        }

        private void ws() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    i++;
                } else {
                    break;
                }
            }
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(':');
                        m.put(k, value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                        } else {
                            expect('}');
                            return m;
                        }
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (s.charAt(i) == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        l.add(value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                        } else {
                            expect(']');
                            return l;
                        }
                    }
                }
                case '"':
                    return string();
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                case 'n':
                    literal("null");
                    return null;
                default:
                    return number();
            }
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw error("expected '" + c + "'");
            }
            i++;
        }

        private void literal(String lit) {
            if (!s.startsWith(lit, i)) {
                throw error("expected " + lit);
            }
            i += lit.length();
        }

        private Object number() {
            int start = i;
            boolean fractional = false;
            while (i < s.length()) {
                char c = s.charAt(i);
                if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
                    i++;
                } else if (c == '.' || c == 'e' || c == 'E') {
                    fractional = true;
                    i++;
                } else {
                    break;
                }
            }
            String n = s.substring(start, i);
            if (n.isEmpty()) {
                throw error("unexpected character");
            }
            if (!fractional) {
                try {
                    return Long.parseLong(n);
                } catch (NumberFormatException e) {
                    // too big for a long: fall through to double
                }
            }
            return Double.parseDouble(n);
        }

        private String string() {
            expect('"');
            StringBuilder sb = null;
            int start = i;
            while (true) {
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(i);
                if (c == '"') {
                    String out = sb == null ? s.substring(start, i) : sb.append(s, start, i).toString();
                    i++;
                    return out;
                }
                if (c == '\\') {
                    if (sb == null) {
                        sb = new StringBuilder();
                    }
                    sb.append(s, start, i);
                    char e = s.charAt(i + 1);
                    i += 2;
                    switch (e) {
                        case 'n': sb.append('\n'); break;
                        case 't': sb.append('\t'); break;
                        case 'r': sb.append('\r'); break;
                        case 'b': sb.append('\b'); break;
                        case 'f': sb.append('\f'); break;
                        case 'u':
                            sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            i += 4;
                            break;
                        default: sb.append(e); // " \ /
                    }
                    start = i;
                } else {
                    i++;
                }
            }
        }

        static String quote(String v) {
            StringBuilder sb = new StringBuilder("\"");
            for (int k = 0; k < v.length(); k++) {
                char c = v.charAt(k);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\t': sb.append("\\t"); break;
                    case '\r': sb.append("\\r"); break;
                    default:
                        if (c < 0x20) {
                            sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                }
            }
            return sb.append('"').toString();
        }
    }
}
