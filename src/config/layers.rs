//! Layered configuration with provenance: every leaf of the merged document remembers which file and
//! line (or which environment variable / CLI flag) set it, so any later error can name its source.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::ConfigError;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    /// 1-based; 0 when the source has no lines (env, CLI).
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 { write!(f, "{}:{}", self.source, self.line) } else { write!(f, "{}", self.source) }
    }
}

/// The merged document and, for every path (`a.b[0].c`), its origin.
#[derive(Debug, Clone, Default)]
pub struct Layered {
    pub doc: Table,
    pub origins: BTreeMap<String, Origin>,
}

impl Layered {
    /// Removes the top-level table `key` when every value in it came from `source`.
    pub fn drop_if_only_from(&mut self, key: &str, source: &str) {
        let prefix = format!("{key}.");
        let mut under = self
            .origins
            .iter()
            .filter(|(p, _)| *p == key || p.starts_with(&prefix) || p.starts_with(&format!("{key}[")));
        if self.doc.contains_key(key) && under.all(|(_, o)| o.source == source) {
            self.doc.remove(key);
            remove_subtree(&mut self.origins, key);
        }
    }

    /// The origin of `path`, or of its nearest ancestor that has one.
    pub fn origin_of(&self, path: &str) -> Option<&Origin> {
        let mut p = path.to_string();
        loop {
            if let Some(o) = self.origins.get(&p) {
                return Some(o);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    /// Overlays a TOML file. `allowed_top` restricts which top-level keys this layer may set.
    pub fn overlay_toml(&mut self, source: &str, text: &str, allowed_top: Option<&[&str]>) -> Result<(), ConfigError> {
        let spanned = DeTable::parse(text).map_err(|e| syntax_error(source, text, &e))?;
        let table: Table = toml::from_str(text).map_err(|e| syntax_error(source, text, &e))?;
        if let Some(allowed) = allowed_top {
            for (key, value) in spanned.get_ref().iter() {
                if !allowed.contains(&key.get_ref().as_ref()) {
                    let line = line_of(text, key.span().start);
                    let _ = value;
                    return Err(ConfigError::new(
                        Origin { source: source.to_string(), line },
                        key.get_ref().as_ref(),
                        format!("not allowed in this file (allowed top-level keys: {})", allowed.join(", ")),
                    ));
                }
            }
        }
        let mut origins = BTreeMap::new();
        collect_origins(source, &LineStarts::new(text), "", spanned.get_ref(), &mut origins);
        merge_table(&mut self.doc, table, "", &mut self.origins, &origins);
        Ok(())
    }

    /// Overlays one value at a dotted path (from an environment variable or `--set`). Elements of
    /// arrays of tables are addressed as `market.cex[1].taker_fee_bps`; they must already exist.
    pub fn overlay_value(&mut self, path: &str, raw: &str, origin: Origin) -> Result<(), ConfigError> {
        let value = parse_scalar(raw);
        let mut segments = Vec::new();
        for seg in path.split('.') {
            let (name, index) = match seg.split_once('[') {
                Some((n, rest)) => {
                    let i = rest.strip_suffix(']').and_then(|x| x.parse::<usize>().ok());
                    match i {
                        Some(i) => (n, Some(i)),
                        None => return Err(ConfigError::new(origin, path, format!("bad index in `{seg}`"))),
                    }
                }
                None => (seg, None),
            };
            if name.is_empty() {
                return Err(ConfigError::new(origin, path, "empty key segment".to_string()));
            }
            segments.push((name, index));
        }
        let fail = |origin: Origin, upto: usize, what: &str| {
            let shown: Vec<String> = segments[..=upto]
                .iter()
                .map(|(n, i)| i.map(|i| format!("{n}[{i}]")).unwrap_or_else(|| n.to_string()))
                .collect();
            Err(ConfigError::new(origin, &shown.join("."), what.to_string()))
        };
        let mut table = &mut self.doc;
        let last = segments.len() - 1;
        for (depth, (name, index)) in segments.iter().enumerate() {
            let is_last = depth == last;
            if is_last && index.is_none() {
                table.insert(name.to_string(), value);
                break;
            }
            let entry = table
                .entry(name.to_string())
                .or_insert_with(|| if index.is_some() { Value::Array(Vec::new()) } else { Value::Table(Table::new()) });
            let slot = match (entry, index) {
                (Value::Array(items), Some(i)) => match items.get_mut(*i) {
                    Some(item) => item,
                    None => return fail(origin, depth, "no such array element"),
                },
                (Value::Table(t), None) => {
                    table = t;
                    continue;
                }
                _ => return fail(origin, depth, "has another type, cannot set a key inside it"),
            };
            if is_last {
                *slot = value;
                break;
            }
            match slot {
                Value::Table(t) => table = t,
                _ => return fail(origin, depth, "is not a table, cannot set a key inside it"),
            }
        }
        remove_subtree(&mut self.origins, path);
        self.origins.insert(path.to_string(), origin);
        Ok(())
    }
}

/// `5` → integer, `true` → bool, `"5 ETH"` or `5 ETH` → string, `[..]`/`{..}` → TOML value.
fn parse_scalar(raw: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Removes `path` and everything below it (`path.x`, `path[0]`): those keys sort together after
/// `path`, so a range scan finds them without visiting the rest.
fn remove_subtree(origins: &mut BTreeMap<String, Origin>, path: &str) {
    let (dot, bracket) = (format!("{path}."), format!("{path}["));
    let doomed: Vec<String> = origins
        .range(path.to_string()..)
        .take_while(|(p, _)| p.starts_with(path))
        .filter(|(p, _)| p.as_str() == path || p.starts_with(&dot) || p.starts_with(&bracket))
        .map(|(p, _)| p.clone())
        .collect();
    for p in doomed {
        origins.remove(&p);
    }
}

fn merge_table(
    into: &mut Table,
    from: Table,
    prefix: &str,
    origins: &mut BTreeMap<String, Origin>,
    new_origins: &BTreeMap<String, Origin>,
) {
    for (key, value) in from {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (into.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(incoming)) => {
                if let Some(o) = new_origins.get(&path) {
                    origins.entry(path.clone()).or_insert_with(|| o.clone());
                }
                merge_table(existing, incoming, &path, origins, new_origins);
            }
            (_, value) => {
                // A replaced value takes all of its subtree's origins from the new layer.
                remove_subtree(origins, &path);
                for (p, o) in new_origins.range(path.clone()..) {
                    if p == &path || p.starts_with(&format!("{path}.")) || p.starts_with(&format!("{path}[")) {
                        origins.insert(p.clone(), o.clone());
                    } else if !p.starts_with(&path) {
                        break;
                    }
                }
                into.insert(key, value);
            }
        }
    }
}

fn collect_origins(
    source: &str,
    text: &LineStarts,
    prefix: &str,
    table: &DeTable<'_>,
    out: &mut BTreeMap<String, Origin>,
) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        out.insert(path.clone(), Origin { source: source.to_string(), line: text.line(key.span().start) });
        collect_value(source, text, &path, value.get_ref(), value.span().start, out);
    }
}

fn collect_value(
    source: &str,
    text: &LineStarts,
    path: &str,
    value: &DeValue<'_>,
    start: usize,
    out: &mut BTreeMap<String, Origin>,
) {
    match value {
        DeValue::Table(t) => collect_origins(source, text, path, t, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let line = text.line(item.span().start.max(start));
                out.insert(p.clone(), Origin { source: source.to_string(), line });
                collect_value(source, text, &p, item.get_ref(), item.span().start, out);
            }
        }
        _ => {}
    }
}

/// Byte offsets where each line starts, so a key's line is a binary search, not a rescan of the
/// file per key.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        LineStarts(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
    /// 1-based line of `offset` (same as `line_of`).
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn syntax_error(source: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let line = line_of(text, offset);
    let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
    let key = line_text.split('=').next().unwrap_or("").trim().trim_matches(['[', ']']).trim();
    let message = e.message().lines().next().unwrap_or("invalid TOML").trim().to_string();
    ConfigError::new(
        Origin { source: source.to_string(), line },
        if key.is_empty() { "(none)" } else { key },
        format!("TOML syntax error: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_and_keep_their_origin() {
        let mut l = Layered::default();
        l.overlay_toml("a.toml", "x = 1\n[s]\ny = 2\nz = 3\n", None).unwrap();
        l.overlay_toml("b.toml", "\n[s]\ny = 20\n", None).unwrap();
        l.overlay_value("s.z", "30", Origin { source: "env XCRACK_S__Z".into(), line: 0 }).unwrap();
        assert_eq!(l.doc["s"]["y"].as_integer(), Some(20));
        assert_eq!(l.doc["s"]["z"].as_integer(), Some(30));
        assert_eq!(l.doc["x"].as_integer(), Some(1));
        assert_eq!(l.origin_of("s.y").unwrap().to_string(), "b.toml:3");
        assert_eq!(l.origin_of("s.z").unwrap().to_string(), "env XCRACK_S__Z");
        assert_eq!(l.origin_of("x").unwrap().to_string(), "a.toml:1");
    }

    #[test]
    fn arrays_of_tables_have_per_element_origins() {
        let mut l = Layered::default();
        l.overlay_toml("s.toml", "[[c]]\nname = \"a\"\n\n[[c]]\nname = \"b\"\nfee = -1\n", None).unwrap();
        assert_eq!(l.origin_of("c[1].fee").unwrap().line, 6);
        assert_eq!(l.origin_of("c[0].name").unwrap().line, 2);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let mut l = Layered::default();
        let e = l.overlay_toml("bad.toml", "a = 1\nb = = 2\n", None).unwrap_err();
        assert_eq!(e.origin.line, 2);
        assert_eq!(e.key, "b");
    }

    #[test]
    fn array_elements_can_be_overridden() {
        let mut l = Layered::default();
        l.overlay_toml("s.toml", "[[c]]\nfee = 1\nlat = { ms = 3 }\n\n[[c]]\nfee = 2\n", None).unwrap();
        let o = || Origin { source: "--set".into(), line: 0 };
        l.overlay_value("c[1].fee", "20", o()).unwrap();
        l.overlay_value("c[0].lat.ms", "30", o()).unwrap();
        assert_eq!(l.doc["c"][1]["fee"].as_integer(), Some(20));
        assert_eq!(l.doc["c"][0]["lat"]["ms"].as_integer(), Some(30));
        assert_eq!(l.doc["c"][0]["fee"].as_integer(), Some(1));
        assert_eq!(l.origin_of("c[1].fee").unwrap().source, "--set");
        assert!(l.overlay_value("c[5].fee", "1", o()).is_err());
        assert!(l.overlay_value("c[x].fee", "1", o()).is_err());
    }

    #[test]
    fn scalars_from_env_are_typed() {
        assert_eq!(parse_scalar("5"), Value::Integer(5));
        assert_eq!(parse_scalar("true"), Value::Boolean(true));
        assert_eq!(parse_scalar("5 ETH"), Value::String("5 ETH".into()));
        assert_eq!(parse_scalar("\"x\""), Value::String("x".into()));
    }
}
