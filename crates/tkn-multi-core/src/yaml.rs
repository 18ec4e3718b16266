//! The one module that names the YAML crate (serde-saphyr). **Pure.**
//!
//! Everything else in tkn-multi sees YAML only as `serde_json::Value` documents, so replacing the
//! YAML library changes this file alone. serde-saphyr is the crate kube 5 itself uses; it handles
//! YAML 1.1 merge keys (`!!merge <<: *version`), which Tekton v0.22.0's CRDs contain.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A YAML document could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
}

/// Parses a multi-document YAML stream into one JSON value per non-empty document.
///
/// Empty documents (a lone `---`, or only comments) are skipped, as `kubectl apply` does. A large
/// stream (a release is about 1.5 MB, a third of it one CRD) is cut at its document markers and
/// its documents are parsed on scoped threads (one per CPU, at most [`MAX_THREADS`]), largest
/// first, each thread taking the next one left. YAML forbids a `---` line in any content, so the
/// cuts fall between documents, and anchors never cross documents. If any document fails, the
/// whole stream is parsed again in one piece, so that the error names the line in the input as
/// given.
pub fn parse_documents(input: &str) -> Result<Vec<Value>, Error> {
    let threads = threads_for(input.len());
    if threads > 1 {
        let runs = document_runs(input);
        let mut largest_first: Vec<usize> = (0..runs.len()).collect();
        largest_first.sort_by_key(|&i| std::cmp::Reverse(runs[i].len()));
        let parsed = map_on_threads(&runs, &largest_first, threads, |run| parse_all(run).ok());
        if let Some(docs) = parsed.into_iter().collect::<Option<Vec<_>>>() {
            return Ok(docs.into_iter().flatten().flatten().filter(|v| !v.is_null()).collect());
        }
    }
    parse_documents_in_one_piece(input)
}

/// The most threads one parse or serialisation uses.
pub const MAX_THREADS: usize = 4;

/// Below this many bytes a stream is parsed or written on the calling thread.
const PARALLEL_FROM_BYTES: usize = 256 * 1024;

fn threads_for(bytes: usize) -> usize {
    if bytes < PARALLEL_FROM_BYTES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
}

fn parse_all(input: &str) -> Result<Vec<Option<Value>>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(input, options())
}

/// How many documents `input` has (empty ones included): the count of its document marker lines,
/// plus one. Cheap, and taken before any parse, so budgets hold whatever the input's size.
pub fn count_documents(input: &str) -> usize {
    document_runs(input).len()
}

/// Cuts `input` into consecutive runs, one per document: each cut is just before a document
/// marker line (`---` at the start of a line, then a space, a line end or the end).
fn document_runs(input: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    while let Some(cut) = next_marker(input, start + 1) {
        runs.push(&input[start..cut]);
        start = cut;
    }
    runs.push(&input[start..]);
    runs
}

/// The byte offset of the first document marker line that starts after `from - 1`.
fn next_marker(input: &str, from: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut at = from.checked_sub(1)?;
    while let Some(found) = input.get(at..)?.find("\n---") {
        let line = at + found + 1;
        match bytes.get(line + 3) {
            None | Some(b'\n' | b'\r' | b' ' | b'\t') => return Some(line),
            Some(_) => at = line,
        }
    }
    None
}

/// [`parse_documents`] on the calling thread, in one piece: the reference the cut parse is tested
/// against (over every real release).
pub fn parse_documents_in_one_piece(input: &str) -> Result<Vec<Value>, Error> {
    let docs = parse_all(input).map_err(|e| Error { message: e.to_string() })?;
    Ok(docs.into_iter().flatten().filter(|v| !v.is_null()).collect())
}

/// `f` of every item, in the items' order, computed on `threads` scoped threads that each take
/// the next item of `order` left (so the largest items, put first, do not end up on one thread).
fn map_on_threads<T: Sync, R: Send>(
    items: &[T],
    order: &[usize],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let (next, f) = (&next, &f);
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push((i, f(&items[i])));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, r) in done.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().map(|r| r.expect("every item was taken by a thread")).collect()
}

/// Serialises each value as a YAML document (without a leading `---`). Many values are written on
/// scoped threads (at most [`MAX_THREADS`]), each taking the next value left.
pub fn to_strings<T: Serialize + Sync>(values: &[T]) -> Result<Vec<String>, Error> {
    let threads = if values.len() < 16 { 1 } else { threads_for(PARALLEL_FROM_BYTES) };
    if threads == 1 {
        return values.iter().map(to_string).collect();
    }
    let order: Vec<usize> = (0..values.len()).collect();
    map_on_threads(values, &order, threads, to_string).into_iter().collect()
}

/// Parses one YAML document into a typed value.
pub fn from_str<T: DeserializeOwned>(input: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(input, options())
        .map_err(|e| Error { message: e.to_string() })
}

/// Serialises one value as a YAML document (without a leading `---`).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error { message: e.to_string() })
}

fn options() -> serde_saphyr::Options {
    // Tekton v1.x releases are about 1.5 MB with deeply nested OpenAPI schemas; the default
    // budget is sized for configuration files, so lift it to what a release needs.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 10_000_000,
            max_nodes: 5_000_000,
            max_depth: 256,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_cut_only_at_document_markers_and_cover_the_input() {
        let input = "a: 1\n---\nb: |\n  ---x\n  y\n--- \nc: 2\n---\n---\nd: [1]\n";
        let runs = document_runs(input);
        assert_eq!(runs.concat(), input);
        assert_eq!(
            runs,
            ["a: 1\n", "---\nb: |\n  ---x\n  y\n", "--- \nc: 2\n", "---\n", "---\nd: [1]\n"]
        );
        // `---x` in content is not a marker; a stream without markers stays one run, and a
        // leading marker starts the first.
        assert_eq!(document_runs("a: |\n  x\n---x: 1\n"), vec!["a: |\n  x\n---x: 1\n"]);
        assert_eq!(document_runs("---\na: 1\n---"), vec!["---\na: 1\n", "---"]);
    }

    #[test]
    fn a_parallel_parse_equals_a_whole_parse_and_reports_errors_against_the_whole_input() {
        let text = "    a line of a block scalar\n".repeat(12);
        let doc =
            |i: usize| format!("---\nkind: K\nmetadata:\n  name: n{i}\nspec:\n  text: |\n{text}");
        let input: String = (0..900).map(doc).collect();
        assert!(input.len() > PARALLEL_FROM_BYTES);
        let whole: Vec<Value> = parse_all(&input).unwrap().into_iter().flatten().collect();
        assert_eq!(parse_documents(&input).unwrap(), whole);
        assert_eq!(whole.len(), 900);

        let broken = format!("{input}---\nkind: [unclosed\n");
        let whole_error = parse_all(&broken).unwrap_err().to_string();
        assert_eq!(parse_documents(&broken).unwrap_err().to_string(), whole_error);
    }

    #[test]
    fn parallel_writing_keeps_order() {
        let values: Vec<Value> = (0..500).map(|i| serde_json::json!({"n": i})).collect();
        let written = to_strings(&values).unwrap();
        let one_by_one: Vec<String> = values.iter().map(|v| to_string(v).unwrap()).collect();
        assert_eq!(written, one_by_one);
    }
}
