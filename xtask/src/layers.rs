//! The layer rule, read from `cargo metadata`: a library crate depends on hounsfield-core (and,
//! optionally, hounsfield-cuda) and on no sibling library crate; core and mesh pull in no candle,
//! no cudarc and no DICOM codec, even transitively.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Crates outside the rule: the binary and the Python package wire everything together; benches
/// time everything.
const WIRING: [&str; 4] =
    ["hounsfield-cli", "hounsfield-python", "hounsfield-serve", "hounsfield-benches"];
/// Dependency names that must not reach the lightweight crates.
const HEAVY_PREFIXES: [&str; 3] = ["candle-", "cudarc", "dicom-"];
const LIGHT_CRATES: [&str; 2] = ["hounsfield-core", "hounsfield-mesh"];

pub fn check() -> Result<()> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--all-features", "--locked"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let (libraries, problems) = problems(&meta)?;
    if !problems.is_empty() {
        bail!("layer rule broken:\n  {}", problems.join("\n  "));
    }
    println!("layer rule holds for {libraries} library crates");
    Ok(())
}

/// The number of library crates checked and every breach of the rule in `cargo metadata` output.
fn problems(meta: &Value) -> Result<(usize, Vec<String>)> {
    let mut problems = Vec::new();
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let packages: Vec<&Value> = meta["packages"].as_array().into_iter().flatten().collect();
    let libraries: BTreeSet<&str> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .filter_map(|p| p["name"].as_str())
        .filter(|n| n.starts_with("hounsfield-") && !WIRING.contains(n))
        .collect();
    for p in &packages {
        let Some(name) = p["name"].as_str() else { continue };
        if !libraries.contains(name) {
            continue;
        }
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["kind"].as_str() == Some("dev") || !libraries.contains(dep_name) {
                continue;
            }
            let allowed = match dep_name {
                "hounsfield-core" => name != "hounsfield-core",
                "hounsfield-cuda" => {
                    dep["optional"].as_bool() == Some(true) && name != "hounsfield-core"
                }
                _ => false,
            };
            if !allowed {
                problems.push(format!("{name} depends on sibling library {dep_name}"));
            }
        }
    }
    problems.extend(heavy_dependencies(meta, &packages)?);
    Ok((libraries.len(), problems))
}

/// Transitive non-dev dependencies of the light crates that match a heavy prefix.
fn heavy_dependencies(meta: &Value, packages: &[&Value]) -> Result<Vec<String>> {
    let names: HashMap<&str, &str> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .context("cargo metadata without a resolve graph")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut problems = Vec::new();
    for light in LIGHT_CRATES {
        let Some((&start, _)) = names.iter().find(|(_, n)| **n == light) else { continue };
        let mut stack = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(node) = nodes.get(id) else { continue };
            for dep in node["deps"].as_array().into_iter().flatten() {
                let normal = dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].as_str() != Some("dev"));
                if let (true, Some(pkg)) = (normal, dep["pkg"].as_str()) {
                    stack.push(pkg);
                }
            }
        }
        for id in seen {
            let dep = names.get(id).copied().unwrap_or_default();
            if HEAVY_PREFIXES.iter().any(|h| dep.starts_with(h)) {
                problems.push(format!("{light} pulls in {dep}"));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Synthetic `cargo metadata`: `deps` lists (from, to, kind, optional).
    fn meta(deps: &[(&str, &str, Option<&str>, bool)]) -> Value {
        let names = [
            "hounsfield-core",
            "hounsfield-mesh",
            "hounsfield-io",
            "hounsfield-cuda",
            "hounsfield-cli",
            "candle-core",
        ];
        let packages: Vec<Value> = names
            .iter()
            .map(|n| {
                let d: Vec<Value> = deps
                    .iter()
                    .filter(|(from, ..)| from == n)
                    .map(|(_, to, kind, optional)| json!({"name": to, "kind": kind, "optional": optional}))
                    .collect();
                json!({"name": n, "id": format!("{n}-id"), "dependencies": d})
            })
            .collect();
        let nodes: Vec<Value> = names
            .iter()
            .map(|n| {
                let d: Vec<Value> = deps
                    .iter()
                    .filter(|(from, ..)| from == n)
                    .map(|(_, to, kind, _)| json!({"pkg": format!("{to}-id"), "dep_kinds": [{"kind": kind}]}))
                    .collect();
                json!({"id": format!("{n}-id"), "deps": d})
            })
            .collect();
        let members: Vec<Value> = names[..5].iter().map(|n| json!(format!("{n}-id"))).collect();
        json!({"workspace_members": members, "packages": packages, "resolve": {"nodes": nodes}})
    }

    #[test]
    fn the_allowed_shape_passes() {
        let m = meta(&[
            ("hounsfield-mesh", "hounsfield-core", None, false),
            ("hounsfield-io", "hounsfield-core", None, false),
            ("hounsfield-io", "hounsfield-cuda", None, true),
            ("hounsfield-mesh", "hounsfield-io", Some("dev"), false),
            ("hounsfield-cli", "hounsfield-io", None, false),
        ]);
        let (n, found) = problems(&m).unwrap();
        assert_eq!(n, 4);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn sibling_and_heavy_dependencies_are_reported() {
        let m = meta(&[
            ("hounsfield-mesh", "hounsfield-io", None, false),
            ("hounsfield-io", "hounsfield-cuda", None, false),
            ("hounsfield-io", "candle-core", None, false),
        ]);
        let (_, found) = problems(&m).unwrap();
        assert!(
            found.contains(&"hounsfield-mesh depends on sibling library hounsfield-io".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"hounsfield-io depends on sibling library hounsfield-cuda".to_owned()),
            "{found:?}"
        );
        // mesh -> io -> candle-core: transitive.
        assert!(found.contains(&"hounsfield-mesh pulls in candle-core".to_owned()), "{found:?}");
    }
}
