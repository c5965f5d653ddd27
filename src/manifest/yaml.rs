//! Span-preserving YAML: parses a file (several documents) into `serde_json::Value`s plus a map
//! from JSON pointer to source position, so every later problem can point at its node.
//!
//! All YAML parsing goes through this module, so swapping the YAML crate stays local.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Deepest nesting accepted (mappings and sequences).
pub const MAX_DEPTH: usize = 64;

/// A position in a file: 1-based line and column, byte offset and byte length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
    /// The file the node was read from, when it is not the file of the document that holds
    /// it: a node an environment's overlay patched in (see `manifest::overlay`).
    pub file: Option<std::sync::Arc<str>>,
}

impl Pos {
    fn from_location(location: &serde_saphyr::Location, text_len: usize) -> Pos {
        let span = location.span();
        let offset = span
            .byte_offset()
            .and_then(|o| usize::try_from(o).ok())
            .unwrap_or(0)
            .min(text_len);
        let len = span
            .byte_len()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .min(text_len - offset);
        Pos {
            line: usize::try_from(location.line()).unwrap_or(0).max(1),
            column: usize::try_from(location.column()).unwrap_or(0).max(1),
            offset,
            len,
            file: None,
        }
    }

    /// The file to report this position in: its own, else the document's `file`.
    #[must_use]
    pub fn file_or<'a>(&'a self, file: &'a str) -> &'a str {
        self.file.as_deref().unwrap_or(file)
    }
}

/// JSON pointer -> position of the value; `"<ptr>#key"` -> position of the mapping key.
pub type SpanMap = BTreeMap<String, Pos>;

/// One parsed YAML document.
#[derive(Debug)]
pub struct Document {
    pub value: serde_json::Value,
    /// Positions by pointer; empty when they are found on demand (see [`parse_lazy`]).
    pub spans: SpanMap,
    /// Where the document's root node starts.
    pub start: Pos,
    /// The file's text, to find positions in when they are first asked for ([`parse_lazy`]).
    pub lazy: Option<Lazy>,
}

/// Where a document parsed by [`parse_lazy`] finds its positions: its file's text, parsed
/// again with spans the first time any document of the file is asked for one.
#[derive(Clone)]
pub struct Lazy {
    file: std::sync::Arc<LazyFile>,
    index: usize,
}

struct LazyFile {
    text: std::sync::Arc<str>,
    spans: std::sync::OnceLock<Vec<SpanMap>>,
}

impl fmt::Debug for Lazy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Lazy")
            .field("index", &self.index)
            .field("parsed", &self.file.spans.get().is_some())
            .finish()
    }
}

impl Lazy {
    fn spans(&self) -> Option<&SpanMap> {
        self.file
            .spans
            .get_or_init(|| {
                let (documents, _) = parse(&self.file.text);
                documents.into_iter().map(|doc| doc.spans).collect()
            })
            .get(self.index)
    }
}

impl Document {
    /// The position recorded for `key` (a pointer, or `pointer#key`).
    fn span(&self, key: &str) -> Option<&Pos> {
        match &self.lazy {
            Some(lazy) if self.spans.is_empty() => lazy.spans()?.get(key),
            _ => self.spans.get(key),
        }
    }

    /// Whether the document has a value at `pointer` with a position.
    #[must_use]
    pub fn has(&self, pointer: &str) -> bool {
        self.span(pointer).is_some()
    }

    /// The position of the value at `pointer`, or of the closest ancestor that has one.
    #[must_use]
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut ptr = pointer;
        loop {
            if let Some(pos) = self.span(ptr) {
                return pos.clone();
            }
            match ptr.rfind('/') {
                Some(i) => ptr = &ptr[..i],
                None => return self.start.clone(),
            }
        }
    }

    /// The position of the key that holds the value at `pointer` (or of the value itself).
    #[must_use]
    pub fn key_pos(&self, pointer: &str) -> Pos {
        match self.span(&format!("{pointer}#key")) {
            Some(pos) => pos.clone(),
            None => self.pos(pointer),
        }
    }
}

/// A problem found while parsing YAML.
#[derive(Debug)]
pub struct YamlProblem {
    pub kind: YamlProblemKind,
    pub message: String,
    pub pos: Pos,
    /// A suggestion for the fix.
    pub help: Option<String>,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlProblemKind {
    Syntax,
    DuplicateKey,
    Budget,
}

/// A YAML node with spans on every child.
#[derive(Debug)]
enum YNode {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Seq(Vec<Spanned<YNode>>),
    Map(Vec<(Spanned<String>, Spanned<YNode>)>),
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YNodeVisitor)
    }
}

struct YNodeVisitor;

impl<'de> Visitor<'de> for YNodeVisitor {
    type Value = YNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<YNode, E> {
        Ok(YNode::Null)
    }
    fn visit_none<E>(self) -> Result<YNode, E> {
        Ok(YNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YNode, D::Error> {
        YNode::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<YNode, E> {
        Ok(YNode::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<YNode, E> {
        Ok(YNode::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<YNode, E> {
        Ok(YNode::U64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<YNode, E> {
        Ok(YNode::F64(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<YNode, E> {
        Ok(YNode::F64(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<YNode, E> {
        Ok(YNode::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<YNode, E> {
        Ok(YNode::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<YNode, E> {
        Ok(YNode::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<YNode, E> {
        Ok(YNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<YNode>>()? {
            items.push(item);
        }
        Ok(YNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<YNode>>()?;
            entries.push((key, value));
        }
        Ok(YNode::Map(entries))
    }
}

/// Escape one JSON pointer segment.
#[must_use]
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

struct Converter<'a> {
    spans: SpanMap,
    /// Whether to record every position in `spans` (else only problems get theirs).
    record: bool,
    problems: &'a mut Vec<YamlProblem>,
    text_len: usize,
}

impl Converter<'_> {
    fn convert(&mut self, node: &Spanned<YNode>, ptr: &str) -> serde_json::Value {
        use serde_json::Value;
        if self.record {
            self.spans.insert(
                ptr.to_owned(),
                Pos::from_location(&node.referenced, self.text_len),
            );
        }
        match &node.value {
            YNode::Null => Value::Null,
            YNode::Bool(b) => Value::Bool(*b),
            YNode::I64(i) => Value::from(*i),
            YNode::U64(u) => Value::from(*u),
            YNode::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            YNode::Str(s) => Value::String(s.clone()),
            YNode::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let child = if self.record {
                            format!("{ptr}/{i}")
                        } else {
                            String::new()
                        };
                        self.convert(item, &child)
                    })
                    .collect(),
            ),
            YNode::Map(entries) => {
                let mut object = serde_json::Map::new();
                for (key, value) in entries {
                    if object.contains_key(&key.value) {
                        self.problems.push(YamlProblem {
                            kind: YamlProblemKind::DuplicateKey,
                            message: format!(
                                "duplicate key `{}`: each key may appear only once in a mapping",
                                key.value
                            ),
                            pos: Pos::from_location(&key.referenced, self.text_len),
                            help: None,
                        });
                        continue;
                    }
                    // Pointers are built only where positions are recorded.
                    let child = if self.record {
                        let child = format!("{ptr}/{}", escape(&key.value));
                        self.spans.insert(
                            format!("{child}#key"),
                            Pos::from_location(&key.referenced, self.text_len),
                        );
                        child
                    } else {
                        String::new()
                    };
                    let converted = self.convert(value, &child);
                    object.insert(key.value.clone(), converted);
                }
                Value::Object(object)
            }
        }
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_nodes: 2_000_000,
            max_documents: 10_000,
        },
    }
}

/// The identity fields of one document (`kind`, `metadata.name`, `metadata.project`), read
/// without building the document: every other field is skipped as the parser reads it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Head {
    pub kind: Option<String>,
    pub metadata: Option<HeadMetadata>,
}

/// The identity fields under `metadata`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct HeadMetadata {
    pub name: Option<String>,
    pub project: Option<String>,
}

impl Head {
    /// The project the document belongs to: a `Project`'s name, any other kind's
    /// `metadata.project`.
    #[must_use]
    pub fn project(&self) -> Option<&str> {
        let metadata = self.metadata.as_ref()?;
        if self.kind.as_deref() == Some("Project") {
            metadata.name.as_deref()
        } else {
            metadata.project.as_deref()
        }
    }
}

/// The identity fields of every document of one file, under the same limits as [`parse`];
/// `None` when the text is not valid YAML or a document is not a mapping whose identity
/// fields are texts.
#[must_use]
pub fn heads(text: &str) -> Option<Vec<Head>> {
    serde_saphyr::from_multiple_with_options::<Head>(text, options()).ok()
}

/// Parse every document of one file. On a syntax error the whole file yields no document
/// (YAML cannot resynchronize reliably) and one problem.
pub fn parse(text: &str) -> (Vec<Document>, Vec<YamlProblem>) {
    parse_with(text, None)
}

/// [`parse`], without a position per node: a document finds the positions it is asked for
/// by parsing `text` again, once per file, the first time one is asked for. Documents that
/// pass their checks never hold a span map, so loading many files keeps only their values.
pub fn parse_lazy(text: &std::sync::Arc<str>) -> (Vec<Document>, Vec<YamlProblem>) {
    let file = std::sync::Arc::new(LazyFile {
        text: std::sync::Arc::clone(text),
        spans: std::sync::OnceLock::new(),
    });
    parse_with(text, Some(file))
}

fn parse_with(
    text: &str,
    lazy: Option<std::sync::Arc<LazyFile>>,
) -> (Vec<Document>, Vec<YamlProblem>) {
    let mut problems = Vec::new();
    let roots: Vec<Spanned<YNode>> =
        match serde_saphyr::from_multiple_with_options::<Spanned<YNode>>(text, options()) {
            Ok(roots) => roots,
            Err(error) => {
                problems.push(problem_from_error(&error, text));
                return (Vec::new(), problems);
            }
        };
    let mut documents = Vec::new();
    for (index, root) in roots.iter().enumerate() {
        let mut converter = Converter {
            spans: SpanMap::new(),
            record: lazy.is_none(),
            problems: &mut problems,
            text_len: text.len(),
        };
        let value = converter.convert(root, "");
        let spans = converter.spans;
        let start = Pos::from_location(&root.referenced, text.len());
        documents.push(Document {
            value,
            spans,
            start,
            lazy: lazy.as_ref().map(|file| Lazy {
                file: std::sync::Arc::clone(file),
                index,
            }),
        });
    }
    (documents, problems)
}

/// Byte offset of a 1-based line and column (in characters), clamped to the text.
#[must_use]
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let rest = &text[start..];
    let end = rest.find('\n').unwrap_or(rest.len());
    start
        + rest[..end]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(end, |(i, _)| i)
}

fn problem_from_error(error: &serde_saphyr::Error, text: &str) -> YamlProblem {
    let plain = error.without_snippet();
    let mut message = plain.to_string();
    // The crate appends " at line L column C"; our diagnostics carry the position already.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let lower = message.to_lowercase();
    let kind = if lower.contains("budget") || lower.contains("limit") || lower.contains("depth") {
        YamlProblemKind::Budget
    } else {
        YamlProblemKind::Syntax
    };
    let (line, column) = plain.location().map_or((1, 1), |l| {
        (
            usize::try_from(l.line()).unwrap_or(1).max(1),
            usize::try_from(l.column()).unwrap_or(1).max(1),
        )
    });
    let mut pos = Pos {
        line,
        column,
        offset: offset_of(text, line, column),
        len: 0,
        file: None,
    };
    let mut help = None;
    if kind == YamlProblemKind::Syntax && lower.contains("tab") {
        // The scanner stops where the token before the tab ended, often on the line before.
        if let Some(tab) = indenting_tab(text, line) {
            pos = tab;
            message = "a tab in the indentation: YAML indents with spaces only".to_owned();
        }
        help = Some("indent with spaces instead of tabs".to_owned());
    }
    if kind == YamlProblemKind::Budget {
        message = if lower.contains("depth") {
            format!("the YAML nests deeper than {MAX_DEPTH} levels")
        } else if lower.contains("alias") || lower.contains("event") || lower.contains("node") {
            "the YAML expands to too many nodes (an alias bomb?)".to_owned()
        } else {
            format!("the YAML is too large to read safely ({message})")
        };
    }
    YamlProblem {
        kind,
        message,
        pos,
        help,
    }
}

/// The first tab in the indentation of a line, from line `from` (1-based) on: on that line, or
/// on the next lines up to the first one with content indented by spaces only (blank lines
/// may hold tabs). A tab is one column, one byte.
fn indenting_tab(text: &str, from: usize) -> Option<Pos> {
    let mut offset = 0;
    for (index, content) in text.split_inclusive('\n').enumerate() {
        let line = index + 1;
        if line >= from {
            let body = content.trim_end_matches(['\n', '\r']);
            let rest = body.trim_start_matches([' ', '\t']);
            let indent = &body[..body.len() - rest.len()];
            if !rest.is_empty() {
                if let Some(at) = indent.find('\t') {
                    return Some(Pos {
                        line,
                        column: at + 1,
                        offset: offset + at,
                        len: 1,
                        file: None,
                    });
                }
                if line > from {
                    return None;
                }
            }
        }
        offset += content.len();
    }
    None
}
