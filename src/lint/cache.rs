//! The lint cache: what the Lua work made of each custom plugin, kept across runs.
//!
//! [`super::analyse`] is the costly part of every command that lints (a LuaJIT state per
//! schema and per handler, LuaJIT and full_moon parses). Its result depends on nothing but the
//! bytes of `handler.lua` and `schema.lua`, whether the plugin is streamed, the sandbox
//! profile, the extra `--sandbox-requires` modules and the plugsync binary itself, so it is
//! stored under a key made of exactly those ([`key`]) and reused while they stay the same.
//!
//! # Where and how
//!
//! One file per plugin outcome: `ROOT/lint/BUILD/KEY.json`, where `ROOT` is the user cache
//! directory the CLI chooses (`settings::cache_root`), `BUILD` 16 hex digits of the hash of
//! the binary's identity ([`build_identity`]: version, commit, size and modification time of
//! the executable) and `KEY` the 64 hex digits of the entry's key. A file is three header lines
//! (`plugsync lint cache 1`, the key, the sha256 of the body) and a JSON body ([`Outcome`]).
//!
//! # A cache never changes an answer
//!
//! - A file that cannot be read, is too large, has another header or key, a body whose sha256
//!   does not match, or a body that does not parse is a miss: the plugin is analysed again
//!   and the file rewritten. Nothing here is ever an error.
//! - Files are written to a temporary name in the same directory and renamed into place, so a
//!   reader sees a whole file or none, whatever runs concurrently.
//! - An outcome is stored only if it reads back equal to itself (so a schema whose values do
//!   not survive JSON, such as a NaN bound, is simply never cached), and never when the sandbox
//!   ran out of its wall-clock budget or memory (which can depend on the machine's load).
//! - Another binary (even a rebuild of the same commit) uses another directory; when a new one
//!   is created, all but the [`KEEP_BUILDS`] most recently used sibling directories are removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{LintOptions, PluginAnalysis};
use crate::lua::{Finding, HandlerInfo, SandboxError};
use crate::model::hash::hex;
use crate::model::CustomPluginDecl;
use crate::schema::PluginSchema;

/// The first line of every cache file; the trailing number is the format's version.
const MAGIC: &str = "plugsync lint cache 1";

/// Largest cache file read; a larger one is a miss.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How many other binaries' directories survive when a new one is created.
pub const KEEP_BUILDS: usize = 3;

/// The cache key of one plugin's outcome: sha256 of everything the outcome depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    fn hex(&self) -> String {
        hex(&self.0)
    }
}

/// What [`super::analyse`] made of one custom plugin, without the declaration: the part that
/// is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub handler_syntax: Vec<Finding>,
    pub schema_syntax: Vec<Finding>,
    pub schema: Option<Result<Arc<PluginSchema>, SandboxError>>,
    pub handler: Option<Result<HandlerInfo, SandboxError>>,
    pub handler_findings: Vec<Finding>,
    pub schema_findings: Vec<Finding>,
}

impl Outcome {
    /// The analysis of `decl` this outcome describes.
    pub fn into_analysis(self, decl: &CustomPluginDecl) -> PluginAnalysis<'_> {
        PluginAnalysis {
            decl,
            handler_syntax: self.handler_syntax,
            schema_syntax: self.schema_syntax,
            schema: self.schema,
            handler: self.handler,
            handler_findings: self.handler_findings,
            schema_findings: self.schema_findings,
        }
    }

    /// Whether the outcome may be stored: no failure that depends on the machine rather than on
    /// the plugin (the wall-clock budget, the memory limit).
    fn is_deterministic(&self) -> bool {
        let volatile = |e: &SandboxError| matches!(e, SandboxError::Budget | SandboxError::Memory);
        !matches!(&self.schema, Some(Err(e)) if volatile(e))
            && !matches!(&self.handler, Some(Err(e)) if volatile(e))
    }
}

/// The identity of the running binary: its version, its commit, and the size and modification
/// time of its executable (so a rebuild, even of the same commit with local changes, never
/// reuses an older build's answers). `None` when the executable cannot be found: no caching.
pub fn build_identity() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "plugsync {} commit {} exe {} bytes, modified {}.{:09}",
        env!("CARGO_PKG_VERSION"),
        env!("PLUGSYNC_GIT_COMMIT"),
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    ))
}

/// A lint cache in one directory, for one binary.
#[derive(Debug, Clone)]
pub struct LintCache {
    /// `ROOT/lint/BUILD`.
    dir: PathBuf,
    /// The binary's identity, part of every key.
    build: String,
}

impl LintCache {
    /// The cache under `root` for the running binary; `None` when the binary cannot be
    /// identified.
    pub fn open(root: &Path) -> Option<LintCache> {
        Some(LintCache::with_identity(root, &build_identity()?))
    }

    /// The cache under `root` for a binary whose identity is `build`.
    pub fn with_identity(root: &Path, build: &str) -> LintCache {
        let id = hex(&Sha256::digest(build.as_bytes())[..8]);
        let parent = root.join("lint");
        let dir = parent.join(&id);
        if !dir.is_dir() && std::fs::create_dir_all(&dir).is_ok() {
            prune(&parent, &id);
        }
        LintCache {
            dir,
            build: build.to_string(),
        }
    }

    /// The directory holding this binary's entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of `decl`'s outcome under `options`.
    pub fn key(&self, decl: &CustomPluginDecl, options: &LintOptions) -> Key {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        part(MAGIC.as_bytes());
        part(self.build.as_bytes());
        part(options.profile.as_str().as_bytes());
        part(&(options.sandbox_requires.len() as u64).to_le_bytes());
        for m in &options.sandbox_requires {
            part(m.as_bytes());
        }
        part(&[u8::from(decl.streamed)]);
        part(decl.handler.text.as_bytes());
        part(decl.schema.text.as_bytes());
        Key(h.finalize().into())
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The stored outcome for `key`, if there is a sound one.
    pub fn get(&self, key: &Key) -> Option<Outcome> {
        let path = self.path(key);
        if std::fs::metadata(&path).ok()?.len() > MAX_FILE_BYTES {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let mut lines = bytes.splitn(4, |b| *b == b'\n');
        let magic = lines.next()?;
        let stored_key = lines.next()?;
        let digest = lines.next()?;
        let body = lines.next()?;
        if magic != MAGIC.as_bytes()
            || stored_key != key.hex().as_bytes()
            || digest != hex(&Sha256::digest(body)).as_bytes()
        {
            return None;
        }
        serde_json::from_slice(body).ok()
    }

    /// Stores `outcome` under `key` when it is deterministic and reads back equal; failures to
    /// write are ignored (the next run misses).
    pub fn put(&self, key: &Key, outcome: &Outcome) {
        if !outcome.is_deterministic() {
            return;
        }
        let Ok(body) = serde_json::to_vec(outcome) else {
            return;
        };
        if serde_json::from_slice::<Outcome>(&body).ok().as_ref() != Some(outcome) {
            return;
        }
        let mut file =
            format!("{MAGIC}\n{}\n{}\n", key.hex(), hex(&Sha256::digest(&body))).into_bytes();
        file.extend_from_slice(&body);
        let _ = write_atomically(&self.dir, &self.path(key), &file);
    }
}

/// Writes `bytes` to a fresh temporary file in `dir`, then renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}-{nanos}",
        std::process::id(),
        std::thread::current().id()
    ));
    let written = std::fs::File::create_new(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes the build directories under `parent` other than `current`, except the
/// [`KEEP_BUILDS`] most recently modified ones. Best effort: a concurrent run that loses its
/// directory only misses.
fn prune(parent: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != current && e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    others.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, dir) in others.into_iter().skip(KEEP_BUILDS) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{LintCache, Outcome};
    use crate::lint::{self, LintOptions};
    use crate::lua::ProfileName;
    use crate::model::{DesiredState, Diagnostic};
    use crate::state::testkit::desired;

    const HANDLER: &str = "return { PRIORITY = 900, VERSION = \"1.0.0\", access = function(self, conf) kong.service.request.set_header(conf.name, \"x\") end }\n";
    const SCHEMA: &str = "local typedefs = require \"kong.db.schema.typedefs\"\nreturn { name = \"add-header\", fields = { { protocols = typedefs.protocols_http }, { route = typedefs.no_route }, { config = { type = \"record\", fields = {\n  { name = { type = \"string\", required = true, default = \"x-a\" } },\n  { limit = { type = \"number\", between = { 0.1, 99.5 }, default = 0.3 } },\n  { host = typedefs.host } } } } } }\n";

    fn state(schema: &str) -> DesiredState {
        let yaml = "_format_version: \"3.0\"\ncustom_plugins:\n  - name: add-header\n    path: plugins/add-header\nplugins:\n  - name: add-header\n    config: { name: x-b, limit: 200 }\n";
        desired(&[
            ("plugsync.yaml", yaml),
            ("plugins/add-header/handler.lua", HANDLER),
            ("plugins/add-header/schema.lua", schema),
        ])
    }

    fn options(cache: Option<&LintCache>, profile: ProfileName) -> LintOptions {
        LintOptions {
            sandbox_requires: Vec::new(),
            profile,
            cache: cache.cloned(),
        }
    }

    fn cache_in(dir: &Path) -> LintCache {
        LintCache::with_identity(dir, "plugsync test build")
    }

    fn entries(cache: &LintCache) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(cache.dir())
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    fn outcome(state: &DesiredState, options: &LintOptions) -> Outcome {
        let decl = &state.custom_plugins[0];
        let a = lint::analyse(decl, options);
        Outcome {
            handler_syntax: a.handler_syntax,
            schema_syntax: a.schema_syntax,
            schema: a.schema,
            handler: a.handler,
            handler_findings: a.handler_findings,
            schema_findings: a.schema_findings,
        }
    }

    #[test]
    fn a_cache_hit_hands_its_schema_to_the_run_so_the_plan_evaluates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let state = state(SCHEMA);
        let opts = options(Some(&cache), ProfileName::default());
        let decl = &state.custom_plugins[0];
        let cold = crate::lua::SchemaCache::new();
        let _ = lint::analyse_with(decl, &opts, &cold);
        assert_eq!(cold.evaluations(), 1);
        // A later run: served by the lint cache, and its schema is in the run's cache.
        let warm = crate::lua::SchemaCache::new();
        let _ = lint::analyse_with(decl, &opts, &warm);
        assert_eq!(warm.evaluations(), 0);
        assert!(matches!(warm.get(SCHEMA), Some(Ok(_))));
        assert_eq!(
            warm.evaluate(SCHEMA).ok(),
            cold.get(SCHEMA).and_then(Result::ok)
        );
        assert_eq!(warm.evaluations(), 0, "the plan's lookup evaluates nothing");
    }

    #[test]
    fn a_stored_outcome_reads_back_equal_including_the_evaluated_schema() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let state = state(SCHEMA);
        let cold = outcome(&state, &options(None, ProfileName::default()));
        assert!(matches!(cold.schema, Some(Ok(_))), "{cold:?}");
        let key = cache.key(
            &state.custom_plugins[0],
            &options(None, ProfileName::default()),
        );
        assert!(cache.get(&key).is_none());
        cache.put(&key, &cold);
        assert_eq!(cache.get(&key), Some(cold));
    }

    #[test]
    fn a_corrupted_or_truncated_cache_file_is_a_miss_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let state = state(SCHEMA);
        let cached = options(Some(&cache), ProfileName::default());
        let cold = lint::lint(&state, &options(None, ProfileName::default()));
        assert_eq!(lint::lint(&state, &cached), cold);
        let files = entries(&cache);
        assert_eq!(files.len(), 1, "{files:?}");
        let good = std::fs::read(&files[0]).unwrap();
        let key = cache.key(&state.custom_plugins[0], &cached);
        // A changed digit in the body: still valid JSON, caught by the checksum.
        let mut flipped = good.clone();
        let at = flipped
            .windows(5)
            .position(|w| w == b"99.5]")
            .expect("the bound is in the file");
        flipped[at + 1] = b'8';
        let mut truncated = good.clone();
        truncated.truncate(good.len() / 2);
        let mut other_key = good.clone();
        other_key[MAGIC_LEN + 1] ^= 1;
        for bad in [
            flipped,
            truncated,
            other_key,
            b"garbage".to_vec(),
            Vec::new(),
        ] {
            std::fs::write(&files[0], &bad).unwrap();
            assert!(cache.get(&key).is_none());
            assert_eq!(lint::lint(&state, &cached), cold);
            assert_eq!(std::fs::read(&files[0]).unwrap(), good, "rewritten");
        }
        // A directory where the file should be: still a miss, never an error.
        std::fs::remove_file(&files[0]).unwrap();
        std::fs::create_dir(&files[0]).unwrap();
        assert_eq!(lint::lint(&state, &cached), cold);
    }

    const MAGIC_LEN: usize = super::MAGIC.len();

    #[test]
    fn one_changed_byte_of_the_schema_or_handler_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let o = options(Some(&cache), ProfileName::default());
        let a = state(SCHEMA);
        let b = state(&SCHEMA.replace("99.5", "98.5"));
        let key_a = cache.key(&a.custom_plugins[0], &o);
        let key_b = cache.key(&b.custom_plugins[0], &o);
        assert_ne!(key_a, key_b);
        let diags_a = lint::lint(&a, &o);
        assert!(cache.get(&key_a).is_some());
        assert!(cache.get(&key_b).is_none());
        // The changed bound changes the answer (the message names the bound), and the cached
        // run gives the cold run's answer.
        let diags_b = lint::lint(&b, &o);
        assert_ne!(diags_a, diags_b);
        assert_eq!(
            diags_b,
            lint::lint(&b, &options(None, ProfileName::default()))
        );
        let mut c = state(SCHEMA);
        c.custom_plugins[0].handler.text = HANDLER.replace("900", "901").into();
        assert_ne!(cache.key(&c.custom_plugins[0], &o), key_a);
        let mut hybrid = state(SCHEMA);
        hybrid.custom_plugins[0].streamed = false;
        assert_ne!(cache.key(&hybrid.custom_plugins[0], &o), key_a);
    }

    #[test]
    fn another_profile_extra_requires_or_binary_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let s = state(SCHEMA);
        let decl = &s.custom_plugins[0];
        let base = cache.key(decl, &options(Some(&cache), ProfileName::Kong310));
        let strict = cache.key(decl, &options(Some(&cache), ProfileName::Strict));
        let mut extra = options(Some(&cache), ProfileName::Kong310);
        extra.sandbox_requires = vec!["resty.http".into()];
        let other_build = LintCache::with_identity(dir.path(), "plugsync another build");
        assert_ne!(other_build.dir(), cache.dir());
        let keys = [
            base,
            strict,
            cache.key(decl, &extra),
            other_build.key(decl, &options(None, ProfileName::Kong310)),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        lint::lint(&s, &options(Some(&cache), ProfileName::Kong310));
        assert!(cache.get(&base).is_some());
        assert!(cache.get(&strict).is_none());
        assert!(other_build
            .get(&other_build.key(decl, &options(None, ProfileName::Kong310)))
            .is_none());
    }

    #[test]
    fn concurrent_runs_on_one_cache_all_get_the_cold_answer() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let s = state(SCHEMA);
        let cold = lint::lint(&s, &options(None, ProfileName::default()));
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| lint::lint(&s, &options(Some(&cache), ProfileName::default())))
                })
                .collect();
            for r in runs {
                assert_eq!(r.join().unwrap(), cold);
            }
        });
        let files = entries(&cache);
        assert_eq!(files.len(), 1, "no temporary file is left: {files:?}");
    }

    #[test]
    fn a_failure_of_the_wall_clock_budget_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let s = state(SCHEMA);
        let key = cache.key(&s.custom_plugins[0], &options(None, ProfileName::default()));
        let mut o = outcome(&s, &options(None, ProfileName::default()));
        o.schema = Some(Err(crate::lua::SandboxError::Budget));
        cache.put(&key, &o);
        assert!(cache.get(&key).is_none());
        o.schema = Some(Err(crate::lua::SandboxError::Runtime {
            message: "[string \"schema\"]:1: boom".into(),
        }));
        cache.put(&key, &o);
        assert_eq!(cache.get(&key), Some(o));
    }

    #[test]
    fn old_builds_directories_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let builds: Vec<LintCache> = (0..super::KEEP_BUILDS + 3)
            .map(|i| {
                let c = LintCache::with_identity(dir.path(), &format!("build {i}"));
                // Distinct modification times, oldest first.
                std::thread::sleep(std::time::Duration::from_millis(20));
                c
            })
            .collect();
        let left: Vec<_> = std::fs::read_dir(dir.path().join("lint"))
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(left.len(), super::KEEP_BUILDS + 1);
        assert!(builds.last().unwrap().dir().is_dir());
        assert!(!builds[0].dir().is_dir());
    }

    /// Every case of the lint corpus gives the same diagnostics without a cache, with a cold
    /// cache and with the warm one, under two profiles.
    #[test]
    fn the_lint_corpus_lints_the_same_cold_warm_and_without_cache() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/lint");
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let env = |name: &str| {
            (name == "PLUGSYNC_REDIS_PASSWORD").then(|| "not-a-real-password".to_string())
        };
        let mut cases = 0;
        let mut plugins = 0;
        for case in std::fs::read_dir(&root).unwrap() {
            let case = case.unwrap().path();
            let loaded =
                crate::state::load(std::slice::from_ref(&case), &crate::state::WorkTree, &env);
            if loaded.has_errors() {
                continue;
            }
            cases += 1;
            plugins += loaded.state.custom_plugins.len();
            for profile in [ProfileName::Kong310, ProfileName::Strict] {
                let none: Vec<Diagnostic> = lint::lint(&loaded.state, &options(None, profile));
                let cold = lint::lint(&loaded.state, &options(Some(&cache), profile));
                let warm = lint::lint(&loaded.state, &options(Some(&cache), profile));
                assert_eq!(cold, none, "{}", case.display());
                assert_eq!(warm, none, "{}", case.display());
            }
        }
        assert!(
            cases >= 10 && plugins >= 10,
            "{cases} cases, {plugins} plugins"
        );
        assert!(
            entries(&cache).len() >= plugins / 2,
            "the corpus was cached"
        );
    }
}
