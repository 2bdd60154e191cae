// Prints the tokens of Lucene 8.7's StandardAnalyzer for every line of a UTF-8 file, one JSON
// array per line: the oracle for Osprey's analyzer (crates/osprey-store/src/analysis.rs).
//   javac -cp "$CP" -d /tmp/golden AnalyzerGolden.java
//   java -cp "$CP:/tmp/golden" AnalyzerGolden analyzer-input.txt > analyzer-golden.jsonl
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;

public class AnalyzerGolden {
    public static void main(String[] args) throws Exception {
        // Elasticsearch's `standard` analyzer: no stop words.
        StandardAnalyzer analyzer = new StandardAnalyzer(org.apache.lucene.analysis.CharArraySet.EMPTY_SET);
        try (BufferedReader reader = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            String line;
            StringBuilder out = new StringBuilder();
            while ((line = reader.readLine()) != null) {
                out.setLength(0);
                out.append('[');
                try (TokenStream stream = analyzer.tokenStream("f", line)) {
                    CharTermAttribute term = stream.addAttribute(CharTermAttribute.class);
                    stream.reset();
                    boolean first = true;
                    while (stream.incrementToken()) {
                        if (!first) out.append(',');
                        first = false;
                        out.append('"');
                        for (char c : term.toString().toCharArray()) {
                            if (c == '"' || c == '\\') out.append('\\').append(c);
                            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                            else out.append(c);
                        }
                        out.append('"');
                    }
                    stream.end();
                }
                out.append(']');
                System.out.println(out);
            }
        }
    }
}
