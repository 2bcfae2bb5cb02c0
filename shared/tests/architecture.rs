//! The shape docs/architecture.md describes, checked: the library's modules
//! depend on each other one way only, the library depends on no AWS crate,
//! and no crate but the adapters names an AWS SDK.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Each module of the library and the library modules it names (`crate::x`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("shared/src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("shared/src") {
        let path = entry.expect("entry").path();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        let mut uses = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != module && !name.is_empty() {
                    uses.insert(name);
                }
            }
        }
        graph.insert(module, uses);
    }
    graph
}

/// A cycle through `node`, if there is one.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    stack: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(at) = stack.iter().position(|n| n == node) {
        let mut cycle = stack[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    stack.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = cycle_from(graph, next, stack) {
            return Some(cycle);
        }
    }
    stack.pop();
    None
}

#[test]
fn the_library_modules_depend_on_each_other_one_way() {
    let graph = module_graph();
    assert!(graph.len() > 10, "{graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    // The per-event path runs event -> rules/directory -> enrich -> relay -> publish.
    assert!(graph["relay"].contains("enrich") && graph["enrich"].contains("directory"));
    assert!(!graph["publish"].contains("relay") && !graph["event"].contains("enrich"));
}

/// The workspace's members (their folders), from the root manifest.
fn members() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let doc: toml::Table = text.parse().expect("the root manifest");
    let members = doc["workspace"]["members"].as_array().expect("members");
    members
        .iter()
        .map(|m| m.as_str().expect("a folder").to_owned())
        .collect()
}

/// Every member but the adapters, the one home of the AWS SDK, and the
/// workspace hack, which holds no code: it names the third-party crates
/// (SDK ones among them) only to build each with one set of features.
fn members_but_the_adapters() -> Vec<String> {
    let all = members();
    assert!(all.iter().any(|m| m == "adapters"), "{all:?}");
    all.into_iter()
        .filter(|m| m != "adapters" && m != "workspace-hack")
        .collect()
}

fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).expect(manifest);
    let doc: toml::Table = text.parse().expect("a manifest");
    ["dependencies", "dev-dependencies"]
        .iter()
        .filter_map(|section| doc.get(*section).and_then(|d| d.as_table()))
        .flat_map(|deps| deps.keys().cloned())
        .collect()
}

#[test]
fn only_the_adapters_depend_on_an_aws_sdk() {
    let members = members_but_the_adapters();
    assert!(members.len() >= 7, "{members:?}");
    for member in members {
        let manifest = format!("{member}/Cargo.toml");
        let sdks: Vec<String> = dependencies(&manifest)
            .into_iter()
            .filter(|d| d.starts_with("aws-sdk-") || d.starts_with("aws-smithy"))
            .collect();
        assert!(sdks.is_empty(), "{manifest} depends on {sdks:?}");
    }
    let core: Vec<String> = dependencies("shared/Cargo.toml")
        .into_iter()
        .filter(|d| d.starts_with("aws") || d.starts_with("lambda"))
        .collect();
    assert!(core.is_empty(), "the library depends on {core:?}");
    assert!(
        !dependencies("shared/Cargo.toml").contains(&"workspace-hack".to_owned()),
        "the library depends on the hack, and through it on the AWS SDK"
    );
    assert!(dependencies("adapters/Cargo.toml")
        .iter()
        .any(|d| d == "aws-sdk-eventbridge"));
}

#[test]
fn no_source_outside_the_adapters_names_an_sdk_crate() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.contains("aws_sdk_") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    for member in members_but_the_adapters() {
        walk(&root().join(member), &mut found);
    }
    found.retain(|f| !f.ends_with("shared/tests/architecture.rs"));
    assert!(
        found.is_empty(),
        "SDK crates named outside adapters/: {found:?}"
    );
}
