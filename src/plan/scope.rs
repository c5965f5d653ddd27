//! The scope of a run: which projects `--project` and `--delete-project` name, checked against
//! the projects the manifests declare and the organization has, before anything is planned.

use std::collections::BTreeSet;

/// Check `--project` and `--delete-project` names. `declared` are the projects the manifests
/// declare, `live` every project of the organization (not only the selected ones).
///
/// A `--project` name must be declared or live; a `--delete-project` name must be live and not
/// declared (the manifests would re-create it). Every problem is one line, with a did-you-mean
/// where a name is close to a known one.
pub fn check(
    projects: &[String],
    delete_projects: &[String],
    declared: &BTreeSet<&str>,
    live: &BTreeSet<&str>,
) -> Result<(), Vec<String>> {
    let known: BTreeSet<&str> = declared.union(live).copied().collect();
    let place = match (declared.is_empty(), live.is_empty()) {
        (true, _) => "the organization",
        (false, true) => "the manifests",
        _ => "the manifests or the organization",
    };
    let mut problems = Vec::new();
    for name in projects {
        if !known.contains(name.as_str()) {
            problems.push(unknown("--project", name, place, &known));
        }
    }
    for name in delete_projects {
        if declared.contains(name.as_str()) {
            problems.push(format!(
                "--delete-project {name}: the manifests declare project `{name}`; remove its \
                 manifests (or leave them out of the paths) to delete it"
            ));
        } else if !live.contains(name.as_str()) {
            problems.push(unknown("--delete-project", name, "the organization", live));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn unknown(flag: &str, name: &str, place: &str, known: &BTreeSet<&str>) -> String {
    let mut line = format!("{flag} {name}: no project named `{name}` in {place}");
    if let Some(close) = crate::diagnostic::suggest(name, known.iter().copied()) {
        line.push_str(&format!("; did you mean `{close}`?"));
    } else if !known.is_empty() {
        let list = crate::diagnostic::backticked(known);
        line.push_str(&format!("; projects: {list}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
        names.iter().copied().collect()
    }

    #[test]
    fn a_typo_in_project_is_an_error_with_a_suggestion() {
        let problems = check(
            &["prodution".to_owned()],
            &[],
            &set(&["staging"]),
            &set(&["production", "staging"]),
        )
        .expect_err("unknown");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("no project named `prodution`")
                && problems[0].contains("did you mean `production`?"),
            "{problems:?}"
        );
    }

    #[test]
    fn declared_or_live_projects_are_known() {
        let declared = set(&["new-one"]);
        let live = set(&["production"]);
        let projects = ["new-one".to_owned(), "production".to_owned()];
        assert_eq!(check(&projects, &[], &declared, &live), Ok(()));
        let problems = check(&["zzz".to_owned()], &[], &declared, &live).expect_err("unknown");
        assert!(
            problems[0].contains("projects: `new-one`, `production`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_project_to_delete_must_be_live_and_undeclared() {
        let declared = set(&["staging"]);
        let live = set(&["production", "staging"]);
        assert_eq!(
            check(&[], &["production".to_owned()], &declared, &live),
            Ok(())
        );
        let problems = check(
            &[],
            &["staging".to_owned(), "productoin".to_owned()],
            &declared,
            &live,
        )
        .expect_err("refused");
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].contains("the manifests declare"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("did you mean `production`?"),
            "{problems:?}"
        );
    }
}
