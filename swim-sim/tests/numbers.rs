//! The README's table of simulated figures is what the code measures: the
//! rows of the CI tier are run here and compared with the README, figure
//! for figure (`swim-sim numbers --write` rewrites the table after a
//! change that moves them).

use std::path::Path;
use swim_sim::numbers::{written, Tier, ROWS};

#[test]
fn the_readme_s_ci_tier_figures_are_what_the_code_measures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let old = written(&readme).unwrap();
    let mut moved = Vec::new();
    let mut checked = 0;
    for (i, row) in ROWS.iter().enumerate() {
        assert!(old[i].is_some(), "the README has no row {:?}", row.what);
        if row.tier != Tier::Ci {
            continue;
        }
        let figure = row.measure(&root).unwrap();
        checked += 1;
        if old[i].as_deref() != Some(figure.as_str()) {
            moved.push(format!(
                "{}\n  README:   {}\n  measured: {figure}",
                row.what,
                old[i].as_deref().unwrap_or("")
            ));
        }
    }
    assert!(checked >= 4);
    assert!(
        moved.is_empty(),
        "rows moved (run `swim-sim numbers --tier ci --write`):\n{}",
        moved.join("\n")
    );
}
