use super::*;
use std::fs;
use std::sync::Arc;

/// Writes `files` into the working tree of `dir` and commits everything; returns the commit.
fn commit_all(repo: &Repository, message: &str) -> Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"].iter(), None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit<'_>> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn setup() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    (dir, repo)
}

#[test]
fn normalize_is_lexical() {
    assert_eq!(
        normalize(Path::new("/a/b/../c/./d")),
        PathBuf::from("/a/c/d")
    );
    assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
    assert_eq!(normalize(Path::new("a/./b/..")), PathBuf::from("a"));
}

#[test]
fn reads_files_and_directories_of_an_older_commit() {
    let (dir, repo) = setup();
    let root = dir.path();
    write(root, "state/plugsync.yaml", "v1\n");
    write(root, "state/plugins/a/handler.lua", "h1\n");
    let first = commit_all(&repo, "one");
    write(root, "state/plugsync.yaml", "v2\n");
    write(root, "state/plugins/b/handler.lua", "h2\n");
    commit_all(&repo, "two");

    let at_first = GitTree::open(&root.join("state"), &first.to_string()).unwrap();
    assert_eq!(at_first.commit_id(), first.to_string());
    assert_eq!(
        at_first.read(&root.join("state/plugsync.yaml")).unwrap(),
        b"v1\n"
    );
    assert!(at_first.is_dir(&root.join("state/plugins")));
    assert!(!at_first.exists(&root.join("state/plugins/b")));
    assert_eq!(
        at_first.list(&root.join("state/plugins")).unwrap(),
        vec![root.join("state/plugins/a")]
    );
    let head = GitTree::open(&root.join("state"), "HEAD").unwrap();
    assert_eq!(
        head.read(&root.join("state/plugsync.yaml")).unwrap(),
        b"v2\n"
    );
    assert_eq!(
        head.resolve(&root.join("state/plugins/../plugsync.yaml"))
            .unwrap(),
        fs::canonicalize(root).unwrap().join("state/plugsync.yaml")
    );
    assert_eq!(
        head.containment_root(&root.join("state/plugsync.yaml")),
        fs::canonicalize(root).unwrap()
    );
    // The working tree does not matter.
    fs::remove_dir_all(root.join("state")).unwrap();
    assert_eq!(
        head.read(&root.join("state/plugsync.yaml")).unwrap(),
        b"v2\n"
    );
}

#[cfg(unix)]
#[test]
fn follows_links_stored_in_the_commit() {
    let (dir, repo) = setup();
    let root = dir.path();
    write(root, "shared/handler.lua", "shared\n");
    write(root, "p/schema.lua", "s\n");
    std::os::unix::fs::symlink("../shared/handler.lua", root.join("p/handler.lua")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("p/escape")).unwrap();
    commit_all(&repo, "links");
    let tree = GitTree::open(root, "HEAD").unwrap();
    assert_eq!(tree.read(&root.join("p/handler.lua")).unwrap(), b"shared\n");
    let escaped = tree.resolve(&root.join("p/escape")).unwrap();
    assert!(
        !escaped.starts_with(tree.workdir()),
        "{}",
        escaped.display()
    );
    assert!(!tree.exists(&root.join("p/escape")));
}

#[test]
fn errors_name_the_problem() {
    let (dir, repo) = setup();
    write(dir.path(), "plugsync.yaml", "x\n");
    commit_all(&repo, "one");
    let err = GitTree::open(&dir.path().join("plugsync.yaml"), "no-such-branch").unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err}");
    assert!(err.to_string().contains("`no-such-branch` is not a commit"));
    assert!(err.hint().unwrap().contains("fetch-depth"));

    let tree = GitTree::open(dir.path(), "HEAD").unwrap();
    let err = tree
        .check_paths(&[dir.path().join("missing.yaml")])
        .unwrap_err();
    assert!(matches!(err, GitError::MissingAtRef { .. }), "{err}");
    assert!(err.to_string().contains("does not exist at `HEAD`"));

    let outside = tempfile::tempdir().unwrap();
    let err = GitTree::open(&outside.path().join("plugsync.yaml"), "HEAD").unwrap_err();
    assert!(matches!(err, GitError::NoRepository { .. }), "{err}");
}

#[test]
fn worktree_source_sees_changes_to_the_state_only() {
    let (dir, repo) = setup();
    let root = dir.path();
    write(root, "plugsync.yaml", "x\n");
    write(root, "plugins/a/handler.lua", "h\n");
    write(root, "README", "r\n");
    let commit = commit_all(&repo, "one");
    let mut state = DesiredState {
        files: vec![Arc::new(root.join("plugsync.yaml"))],
        ..Default::default()
    };
    let paths = vec![root.join("plugsync.yaml")];
    let clean = worktree_source(&paths, &state);
    assert_eq!(clean.git_commit, Some(commit.to_string()));
    assert!(!clean.dirty);

    // A change outside the state does not count.
    write(root, "README", "changed\n");
    write(root, "notes.txt", "untracked\n");
    assert!(!worktree_source(&paths, &state).dirty);

    // A file inside a plugin directory the state reads does, tracked or not.
    let decl = crate::model::CustomPluginDecl {
        name: "a".into(),
        handler: crate::model::LuaSource {
            text: String::new(),
            origin: crate::model::LuaOrigin::File(Arc::new(PathBuf::from("h"))),
        },
        schema: crate::model::LuaSource {
            text: String::new(),
            origin: crate::model::LuaOrigin::File(Arc::new(PathBuf::from("s"))),
        },
        replaces: None,
        tags: Vec::new(),
        protected: false,
        streamed: true,
        id: None,
        dir: Some(root.join("plugins/a")),
        extra_files: Vec::new(),
        span: crate::model::Span::file_start(Arc::new(root.join("plugsync.yaml"))),
        replaces_span: None,
    };
    state.custom_plugins.push(decl);
    assert!(!worktree_source(&paths, &state).dirty);
    write(root, "plugins/a/new.lua", "n\n");
    assert!(worktree_source(&paths, &state).dirty);
    fs::remove_file(root.join("plugins/a/new.lua")).unwrap();
    write(root, "plugins/a/handler.lua", "h2\n");
    assert!(worktree_source(&paths, &state).dirty);

    // Outside a repository: nothing is known.
    let outside = tempfile::tempdir().unwrap();
    let none = worktree_source(&[outside.path().join("plugsync.yaml")], &state);
    assert_eq!(none, SourceInfo::default());
}
