use super::*;
use std::fs;
use std::sync::Arc;

/// Runs `git ARGS` in `dir` for a test repository (fixed author, no user or system
/// configuration); its stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let null = if cfg!(windows) { "NUL" } else { "/dev/null" };
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", null)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Stages everything in the working tree of `dir` (deletions too) and commits; returns the
/// commit.
fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    dir
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
    let dir = setup();
    let root = dir.path();
    write(root, "state/plugsync.yaml", "v1\n");
    write(root, "state/plugins/a/handler.lua", "h1\n");
    let first = commit_all(root, "one");
    write(root, "state/plugsync.yaml", "v2\n");
    write(root, "state/plugins/b/handler.lua", "h2\n");
    commit_all(root, "two");

    let at_first = GitTree::open(&root.join("state"), &first.clone()).unwrap();
    assert_eq!(at_first.commit_id(), first.clone());
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
    let dir = setup();
    let root = dir.path();
    write(root, "shared/handler.lua", "shared\n");
    write(root, "p/schema.lua", "s\n");
    std::os::unix::fs::symlink("../shared/handler.lua", root.join("p/handler.lua")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("p/escape")).unwrap();
    commit_all(root, "links");
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
    let dir = setup();
    write(dir.path(), "plugsync.yaml", "x\n");
    commit_all(dir.path(), "one");
    let err = GitTree::open(&dir.path().join("plugsync.yaml"), "no-such-branch").unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("`no-such-branch` is not a commit"), "{text}");
    // The command run and git's own message.
    assert!(
        text.contains("`git rev-parse --verify no-such-branch^{commit}` failed: fatal:"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("fetch-depth"));
    // A tree is not a commit; an option is not a revision.
    let err = GitTree::open(dir.path(), "HEAD^{tree}").unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err}");
    let err = GitTree::open(dir.path(), "--output=x").unwrap_err();
    assert!(err.to_string().contains("does not start with `-`"), "{err}");

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
    let dir = setup();
    let root = dir.path();
    write(root, "plugsync.yaml", "x\n");
    write(root, "plugins/a/handler.lua", "h\n");
    write(root, "README", "r\n");
    let commit = commit_all(root, "one");
    let mut state = DesiredState {
        files: vec![Arc::new(root.join("plugsync.yaml"))],
        ..Default::default()
    };
    let paths = vec![root.join("plugsync.yaml")];
    let clean = worktree_source(&paths, &state);
    assert_eq!(clean.git_commit, Some(commit.clone()));
    assert!(!clean.dirty);

    // A change outside the state does not count.
    write(root, "README", "changed\n");
    write(root, "notes.txt", "untracked\n");
    assert!(!worktree_source(&paths, &state).dirty);

    // A file inside a plugin directory the state reads does, tracked or not.
    let decl = crate::model::CustomPluginDecl {
        name: "a".into(),
        handler: crate::model::LuaSource {
            text: "".into(),
            origin: crate::model::LuaOrigin::File(Arc::new(PathBuf::from("h"))),
        },
        schema: crate::model::LuaSource {
            text: "".into(),
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

#[test]
fn reads_names_with_spaces_and_unicode_and_any_bytes() {
    let dir = setup();
    let root = dir.path();
    write(root, "state dir/plugsync.yaml", "a\n");
    write(root, "state dir/plugins/ünï cödé/handler.lua", "h\n");
    write(root, "state dir/plugins/ünï cödé/line\nbreak.lua", "n\n");
    let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe, b'\n']).collect();
    fs::write(root.join("state dir/plugins/ünï cödé/blob.bin"), &binary).unwrap();
    fs::write(root.join("state dir/latin1.yaml"), b"caf\xe9\r\n").unwrap();
    let empty = root.join("state dir/empty.lua");
    fs::write(&empty, b"").unwrap();
    commit_all(root, "names");

    let tree = GitTree::open(&root.join("state dir"), "HEAD").unwrap();
    let plugin = root.join("state dir/plugins/ünï cödé");
    assert!(tree.is_dir(&plugin));
    assert_eq!(
        tree.list(&plugin).unwrap(),
        vec![
            plugin.join("blob.bin"),
            plugin.join("handler.lua"),
            plugin.join("line\nbreak.lua"),
        ]
    );
    assert_eq!(tree.read(&plugin.join("handler.lua")).unwrap(), b"h\n");
    assert_eq!(tree.read(&plugin.join("line\nbreak.lua")).unwrap(), b"n\n");
    assert_eq!(tree.read(&plugin.join("blob.bin")).unwrap(), binary);
    assert_eq!(
        tree.read(&root.join("state dir/latin1.yaml")).unwrap(),
        b"caf\xe9\r\n"
    );
    assert_eq!(tree.read(&empty).unwrap(), b"");
    // Paths relative to the current directory are taken as the working tree takes them.
    let err = tree.read(&plugin).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert!(!tree.exists(&plugin.join("handler.lua/x")));
}

#[test]
fn a_file_over_the_limit_is_refused_and_reading_goes_on() {
    let dir = setup();
    let root = dir.path();
    let big = usize::try_from(MAX_FILE_BYTES).unwrap() + 1;
    fs::write(root.join("big.lua"), vec![b'-'; big]).unwrap();
    write(root, "small.lua", "s\n");
    commit_all(root, "big");
    let tree = GitTree::open(root, "HEAD").unwrap();
    let err = tree.read(&root.join("big.lua")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains(&format!("file is {big} bytes, over the")),
        "{err}"
    );
    assert_eq!(tree.read(&root.join("small.lua")).unwrap(), b"s\n");
}

#[test]
fn a_bare_repository_and_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--bare"]);
    let err = GitTree::open(&dir.path().join("plugsync.yaml"), "HEAD").unwrap_err();
    assert!(matches!(err, GitError::Bare { .. }), "{err}");

    // Before the first commit: no commit to read, none recorded.
    let dir = setup();
    write(dir.path(), "plugsync.yaml", "x\n");
    let err = GitTree::open(dir.path(), "HEAD").unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err}");
    let paths = vec![dir.path().join("plugsync.yaml")];
    let source = worktree_source(&paths, &DesiredState::default());
    assert_eq!(source.git_commit, None);
    assert!(source.dirty);
}

#[cfg(unix)]
#[test]
fn a_state_path_reached_through_a_link_maps_into_the_repository() {
    let dir = setup();
    let root = dir.path();
    write(root, "state/plugsync.yaml", "v\n");
    commit_all(root, "one");
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("checkout");
    std::os::unix::fs::symlink(root, &link).unwrap();
    let tree = GitTree::open(&link.join("state/plugsync.yaml"), "HEAD").unwrap();
    tree.check_paths(&[link.join("state/plugsync.yaml")])
        .unwrap();
    assert_eq!(
        tree.read(&link.join("state/plugsync.yaml")).unwrap(),
        b"v\n"
    );
}

#[test]
fn the_command_shown_quotes_what_needs_it() {
    assert_eq!(
        shown(&["rev-parse", "--verify", "a b^{commit}", "it's", ""]),
        r"git rev-parse --verify 'a b^{commit}' 'it'\''s' ''"
    );
}

#[test]
fn a_missing_object_is_an_error_and_reading_goes_on() {
    let dir = setup();
    let root = dir.path();
    write(root, "gone.lua", "gone\n");
    write(root, "kept.lua", "kept\n");
    commit_all(root, "one");
    let id = git(root, &["rev-parse", "HEAD:gone.lua"]);
    fs::remove_file(root.join(".git/objects").join(&id[..2]).join(&id[2..])).unwrap();
    let tree = GitTree::open(root, "HEAD").unwrap();
    assert!(tree.exists(&root.join("gone.lua")));
    let err = tree.read(&root.join("gone.lua")).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("`git cat-file --batch` answered `{id} missing`")),
        "{err}"
    );
    assert_eq!(tree.read(&root.join("kept.lua")).unwrap(), b"kept\n");
}
