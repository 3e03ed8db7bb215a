//! Static checks on the Lua AST (full_moon, LuaJIT syntax): nothing is run.
//!
//! Names are matched syntactically on dotted chains (`ngx.timer.at`, `io["open"]`,
//! `kong.timer:named_at`), whether called or only referenced (`local at = ngx.timer.at`), so
//! simple aliasing does not hide them; a local variable that shadows `io` or `ngx` is not
//! told apart.

use crate::luasyntax::{luajit_syntax_error, parse_guarded};
use full_moon::ast::{
    Call, Expression, Field, FunctionArgs, FunctionCall, FunctionDeclaration, Index, Prefix,
    Suffix, Var, VarExpression,
};
use full_moon::tokenizer::{Position, TokenReference, TokenType};
use full_moon::visitors::Visitor;

use super::depth;
use super::profile::{self, ProfileName};

/// Which static check a finding comes from. Each is one lint rule; the rule ids are defined
/// once, by the lint rules (`crate::lint::rules`), which map each check to its rule. The
/// variants are in the order of their rule ids, so findings sort as the ids do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Check {
    /// The source touches the filesystem or processes.
    Filesystem,
    /// The handler implements `init_worker`.
    InitWorker,
    /// The source does not compile.
    LuaSyntax,
    /// A `require` outside the sandbox's allowlist.
    Require,
    /// The handler creates timers.
    Timer,
}

impl Check {
    /// Every check, in order.
    pub const ALL: [Check; 5] = [
        Check::Filesystem,
        Check::InitWorker,
        Check::LuaSyntax,
        Check::Require,
        Check::Timer,
    ];
}

/// One finding of a static check, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The check (and so the lint rule) that found it.
    pub rule: Check,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What was found, as a lowercase phrase.
    pub message: String,
    /// Whether this is only a warning (something that cannot be checked statically).
    pub warning: bool,
}

/// The first syntax error of `source`, if LuaJIT (2.1, Lua 5.2 compatibility, as Kong builds it)
/// does not compile it (rule `lua-syntax`). The message is LuaJIT's, without its chunk-name
/// prefix; the column comes from the AST parser when it stops on the same line.
///
/// Only the first error is reported: the ones after it are usually consequences of it.
pub fn syntax_errors(source: &str) -> Vec<Finding> {
    let Some((line, message)) = luajit_syntax_error(source) else {
        return Vec::new();
    };
    let column = with_ast(source, |result| {
        result
            .errors()
            .iter()
            .map(|e| e.range().0)
            .filter(|start| start.line() == line)
            .map(|start| start.character())
            .min()
    })
    .ok()
    .flatten()
    .unwrap_or(1);
    vec![Finding {
        rule: Check::LuaSyntax,
        line: line.max(1),
        column: column.max(1),
        message,
        warning: false,
    }]
}

/// Stack for parsing files that nest deeper than [`depth::INLINE_LEVELS`]: full_moon's parser,
/// visitors and drop are recursive (up to ~17 KB per level for nested functions), and
/// [`depth::MAX_LEVELS`] levels must fit with room to spare.
const PARSER_STACK: usize = 64 * 1024 * 1024;

/// Parses `source` (LuaJIT syntax) and runs `f` on the result, on a thread with a large stack
/// when the file nests deeply. A file nesting beyond [`depth::MAX_LEVELS`] is not parsed: the
/// error is a `lua-syntax` finding.
fn with_ast<T: Send>(
    source: &str,
    f: impl FnOnce(&full_moon::ast::AstResult) -> T + Send,
) -> Result<T, Finding> {
    let nesting = depth::nesting(source);
    if let Some((line, column)) = nesting.too_deep_at {
        return Err(Finding {
            rule: Check::LuaSyntax,
            line,
            column,
            message: format!(
                "the code nests more than {} levels deep (LuaJIT allows at most 200 syntax levels)",
                depth::MAX_LEVELS
            ),
            warning: false,
        });
    }
    let failed = |what: String| Finding {
        rule: Check::LuaSyntax,
        line: 1,
        column: 1,
        message: format!("the file could not be checked: {what}"),
        warning: false,
    };
    let run = move || {
        parse_guarded(source)
            .map(|ast| f(&ast))
            .ok_or_else(|| failed("the Lua parser failed on it (is there a character Lua does not allow, such as a backtick?)".to_string()))
    };
    if nesting.max <= depth::INLINE_LEVELS {
        return run();
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("plugsync-lua-parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, run)
            .map_err(|e| failed(format!("cannot start the parser thread: {e}")))?;
        handle
            .join()
            .map_err(|_| failed("the parser thread failed".to_string()))?
    })
}

/// Checks a `handler.lua`: `init-worker`, `timer`, `filesystem`, and `require` of any module
/// outside the handler allowlist of `profile` plus `extra_requires` (`--sandbox-requires`).
/// Syntax errors are not reported here (see [`syntax_errors`]); the rules still run on what
/// parsed, except for a file nesting too deeply to parse safely.
pub fn handler_findings(
    source: &str,
    profile: ProfileName,
    extra_requires: &[String],
) -> Vec<Finding> {
    run(source, Kind::Handler(profile), extra_requires)
}

/// Checks a `schema.lua`: `filesystem`, and `require` of anything outside the schema allowlist
/// (the same under every profile). Syntax errors are not reported here.
pub fn schema_findings(source: &str) -> Vec<Finding> {
    run(source, Kind::Schema, &[])
}

/// Checks the `schema.lua` of a hybrid-mode plugin (`streamed: false`): the control plane loads
/// it on its own, so it may not `require` any module; `filesystem` as for streamed schemas.
pub fn hybrid_schema_findings(source: &str) -> Vec<Finding> {
    run(source, Kind::HybridSchema, &[])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Schema,
    HybridSchema,
    Handler(ProfileName),
}

fn run(source: &str, kind: Kind, allowed: &[String]) -> Vec<Finding> {
    let findings = with_ast(source, |result| {
        let mut collector = Collector {
            kind,
            allowed,
            findings: Vec::new(),
        };
        collector.visit_ast(result.ast());
        collector.findings
    });
    let mut findings = findings.unwrap_or_default();
    findings.sort_by_key(|f| (f.line, f.column, f.rule));
    findings.dedup();
    findings
}

struct Collector<'a> {
    kind: Kind,
    allowed: &'a [String],
    findings: Vec<Finding>,
}

fn identifier(token: &TokenReference) -> Option<String> {
    match token.token_type() {
        TokenType::Identifier { identifier } => Some(identifier.to_string()),
        _ => None,
    }
}

fn string_literal(expression: &Expression) -> Option<String> {
    match expression {
        Expression::String(token) => literal(token),
        Expression::Parentheses { expression, .. } => string_literal(expression),
        _ => None,
    }
}

fn literal(token: &TokenReference) -> Option<String> {
    match token.token_type() {
        TokenType::StringLiteral { literal, .. } => Some(literal.to_string()),
        _ => None,
    }
}

/// The statically known dotted chain of a prefix and its suffixes (`ngx`, `timer`, `at`),
/// stopping at the first call or computed index, with the position of its first name.
fn chain<'s>(
    prefix: &Prefix,
    suffixes: impl Iterator<Item = &'s Suffix>,
) -> Option<(Vec<String>, Position)> {
    let Prefix::Name(token) = prefix else {
        return None;
    };
    let mut names = vec![identifier(token)?];
    for suffix in suffixes {
        match suffix {
            Suffix::Index(Index::Dot { name, .. }) => match identifier(name) {
                Some(n) => names.push(n),
                None => break,
            },
            Suffix::Index(Index::Brackets { expression, .. }) => match string_literal(expression) {
                Some(n) => names.push(n),
                None => break,
            },
            Suffix::Call(Call::MethodCall(method)) => {
                if let Some(n) = identifier(method.name()) {
                    names.push(n);
                }
                break;
            }
            _ => break,
        }
    }
    Some((names, token.token().start_position()))
}

/// The call arguments when they are a plain call (`f(…)`, `f "…"`, `f {…}`).
fn call_arguments(args: &FunctionArgs) -> Vec<Option<String>> {
    match args {
        FunctionArgs::String(token) => vec![literal(token)],
        FunctionArgs::Parentheses { arguments, .. } => {
            arguments.iter().map(string_literal).collect()
        }
        _ => vec![None],
    }
}

impl Collector<'_> {
    fn push(&mut self, rule: Check, position: Position, message: String) {
        self.push_with(rule, position, message, false);
    }

    fn push_with(&mut self, rule: Check, position: Position, message: String, warning: bool) {
        if position.line() == 0 {
            return; // a phantom token of a partial AST
        }
        self.findings.push(Finding {
            rule,
            line: position.line(),
            column: position.character().max(1),
            message,
            warning,
        });
    }

    /// Rules on a dotted chain: `filesystem` (both files) and `timer` (handlers).
    fn check_chain(&mut self, names: &[String], position: Position) {
        let dotted = names.join(".");
        let parts: Vec<&str> = names.iter().map(String::as_str).collect();
        let filesystem = matches!(
            parts.as_slice(),
            ["io"]
                | [
                    "io",
                    "open"
                        | "popen"
                        | "lines"
                        | "read"
                        | "write"
                        | "input"
                        | "output"
                        | "close"
                        | "tmpfile"
                        | "stdin"
                        | "stdout"
                        | "stderr",
                    ..
                ]
                | ["os", "remove" | "rename" | "tmpname" | "execute", ..]
                | ["loadfile" | "dofile", ..]
        );
        if filesystem {
            self.push(
                Check::Filesystem,
                position,
                format!("`{dotted}` touches the filesystem or processes, which streamed plugins cannot do"),
            );
        }
        if matches!(self.kind, Kind::Handler(_)) {
            let timer = matches!(
                parts.as_slice(),
                ["ngx", "timer"] | ["ngx", "timer", "at" | "every", ..] | ["kong", "timer", ..]
            );
            if timer {
                self.push(
                    Check::Timer,
                    position,
                    format!("`{dotted}` creates timers, which streamed plugins cannot do"),
                );
            }
        }
    }

    /// Checks one `require` of `module`; `guarded` when it is `pcall(require, …)`, whose error
    /// the plugin catches (it loads; the module is simply never there).
    fn check_require(&mut self, module: Option<String>, position: Position, guarded: bool) {
        let Some(module) = module else {
            self.push_with(
                Check::Require,
                position,
                "`require` with a computed module name cannot be checked against the sandbox's allowlist"
                    .to_string(),
                true,
            );
            return;
        };
        let (allowed, which) = match self.kind {
            Kind::HybridSchema => (false, String::new()),
            Kind::Schema => (
                profile::schema_requires().contains(module.as_str()),
                "schema".to_string(),
            ),
            Kind::Handler(p) => (
                p.profile().handler_may_require(&module, self.allowed),
                format!("handler, sandbox profile {p}"),
            ),
        };
        let caught = if guarded {
            ": the pcall catches the error, so the plugin loads, but the module is never available"
        } else {
            ""
        };
        if self.kind == Kind::HybridSchema {
            self.push_with(
                Check::Require,
                position,
                format!("require '{module}' not allowed: a hybrid-mode schema may not require any module{caught}"),
                guarded,
            );
        } else if !allowed {
            self.push_with(
                Check::Require,
                position,
                format!("require '{module}' not allowed within sandbox ({which}){caught}"),
                guarded,
            );
        }
    }

    fn check_init_worker(&mut self, name: &str, token: &TokenReference) {
        if matches!(self.kind, Kind::Handler(_)) && name == "init_worker" {
            self.push(
                Check::InitWorker,
                token.token().start_position(),
                "the handler implements `init_worker`, a phase streamed plugins cannot run in"
                    .to_string(),
            );
        }
    }
}

impl Visitor for Collector<'_> {
    fn visit_function_call(&mut self, call: &FunctionCall) {
        let Some((names, position)) = chain(call.prefix(), call.suffixes()) else {
            return;
        };
        self.check_chain(&names, position);
        let first_call = call.suffixes().find_map(|s| match s {
            Suffix::Call(Call::AnonymousCall(args)) => Some(args),
            _ => None,
        });
        let direct = names.len() == 1
            && matches!(
                call.suffixes().next(),
                Some(Suffix::Call(Call::AnonymousCall(_)))
            );
        if let Some(args) = first_call {
            if direct && names[0] == "require" {
                let module = call_arguments(args).into_iter().next().flatten();
                self.check_require(module, position, false);
            }
            // pcall(require, "x"): Kong's loader raises inside the pcall, which catches it.
            if direct && (names[0] == "pcall" || names[0] == "xpcall") {
                if let FunctionArgs::Parentheses { arguments, .. } = args.as_ref() {
                    let mut iter = arguments.iter();
                    if let Some(Expression::Var(Var::Name(token))) = iter.next() {
                        if identifier(token).as_deref() == Some("require") {
                            let module = iter.next().and_then(string_literal);
                            self.check_require(module, token.token().start_position(), true);
                        }
                    }
                }
            }
        }
    }

    fn visit_var(&mut self, var: &Var) {
        if let Var::Name(token) = var {
            if let Some(name) = identifier(token) {
                if matches!(name.as_str(), "io" | "loadfile" | "dofile") {
                    self.check_chain(&[name], token.token().start_position());
                }
            }
        }
    }

    fn visit_var_expression(&mut self, var: &VarExpression) {
        if let Some((names, position)) = chain(var.prefix(), var.suffixes()) {
            self.check_chain(&names, position);
            // require("mod").field, require "mod".field
            if names.len() == 1 && names[0] == "require" {
                if let Some(Suffix::Call(Call::AnonymousCall(args))) = var.suffixes().next() {
                    let module = call_arguments(args).into_iter().next().flatten();
                    self.check_require(module, position, false);
                }
            }
        }
    }

    fn visit_function_declaration(&mut self, declaration: &FunctionDeclaration) {
        let name = declaration.name();
        let token = match name.method_name() {
            Some(method) => Some(method),
            None if name.names().len() > 1 => name.names().iter().last(),
            None => None,
        };
        if let Some(token) = token {
            if let Some(n) = identifier(token) {
                self.check_init_worker(&n, token);
            }
        }
    }

    fn visit_assignment(&mut self, assignment: &full_moon::ast::Assignment) {
        for var in assignment.variables() {
            let Var::Expression(expression) = var else {
                continue;
            };
            match expression.suffixes().last() {
                Some(Suffix::Index(Index::Dot { name, .. })) => {
                    if let Some(n) = identifier(name) {
                        self.check_init_worker(&n, name);
                    }
                }
                Some(Suffix::Index(Index::Brackets { expression, .. })) => {
                    if let (Some(n), Expression::String(token)) =
                        (string_literal(expression), expression.as_ref())
                    {
                        self.check_init_worker(&n, token);
                    }
                }
                _ => {}
            }
        }
    }

    fn visit_field(&mut self, field: &Field) {
        match field {
            Field::NameKey { key, .. } => {
                if let Some(n) = identifier(key) {
                    self.check_init_worker(&n, key);
                }
            }
            Field::ExpressionKey { key, .. } => {
                if let (Some(n), Expression::String(token)) = (string_literal(key), key.as_ref()) {
                    self.check_init_worker(&n, token);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(findings: &[Finding]) -> Vec<(Check, usize, usize)> {
        findings
            .iter()
            .map(|f| (f.rule, f.line, f.column))
            .collect()
    }

    #[test]
    fn syntax_errors_have_positions() {
        assert!(syntax_errors("return { a = 1 }").is_empty());
        let found = syntax_errors("local x = 1\nlocal y = = 2\nfoo(");
        assert_eq!(at(&found), [(Check::LuaSyntax, 2, 9)]);
        assert_eq!(found[0].message, "unexpected symbol near '='");
        // LuaJIT 2.1 with Lua 5.2 compatibility accepts goto and labels.
        assert!(syntax_errors(
            "for i = 1, 3 do\n  if i == 2 then goto continue end\n  ::continue::\nend"
        )
        .is_empty());
        assert_eq!(
            syntax_errors("local goto = 1")[0].message,
            "'<name>' expected near 'goto'"
        );
        let found = syntax_errors("local s = \"unclosed\nreturn s");
        assert_eq!(at(&found)[0].0, Check::LuaSyntax);
        assert_eq!(at(&found)[0].1, 1);
    }

    #[test]
    fn luajit_syntax_parses() {
        assert!(syntax_errors("goto done\n::done::\nlocal n = 0x10").is_empty());
    }

    #[test]
    fn timers_are_found_called_or_referenced() {
        let source = "local t = ngx.timer\n\
                      local at = ngx[\"timer\"].at\n\
                      kong.timer:named_every('x', 1, f)\n\
                      ngx.timer.running_count()\n\
                      local every = ngx.timer.every";
        assert_eq!(
            at(&handler_findings(
                source,
                crate::lua::ProfileName::default(),
                &[]
            )),
            [
                (Check::Timer, 1, 11),
                (Check::Timer, 2, 12),
                (Check::Timer, 3, 1),
                (Check::Timer, 5, 15)
            ]
        );
        assert!(
            schema_findings(source).is_empty(),
            "timers are a handler rule"
        );
    }

    #[test]
    fn init_worker_in_every_spelling() {
        let source = "local H = {}\n\
                      function H:init_worker() end\n\
                      function H.init_worker() end\n\
                      H.init_worker = nil\n\
                      H[\"init_worker\"] = nil\n\
                      return { [\"init_worker\"] = 1, init_worker = 2 }\n\
                      local function init_worker() end";
        assert_eq!(
            at(&handler_findings(
                source,
                crate::lua::ProfileName::default(),
                &[]
            )),
            [
                (Check::InitWorker, 2, 12),
                (Check::InitWorker, 3, 12),
                (Check::InitWorker, 4, 3),
                (Check::InitWorker, 5, 3),
                (Check::InitWorker, 6, 11),
                (Check::InitWorker, 6, 31),
            ]
        );
    }

    #[test]
    fn filesystem_in_both_files() {
        let source = "local f = io.open('x')\n\
                      local p = io[\"popen\"]\n\
                      os.remove('x') os.rename('a', 'b') os.tmpname() os.execute('ls')\n\
                      local ok = os.time() and os.getenv\n\
                      local lf, df = loadfile, dofile\n\
                      local alias = io";
        let expected = [
            (Check::Filesystem, 1, 11),
            (Check::Filesystem, 2, 11),
            (Check::Filesystem, 3, 1),
            (Check::Filesystem, 3, 16),
            (Check::Filesystem, 3, 36),
            (Check::Filesystem, 3, 49),
            (Check::Filesystem, 5, 16),
            (Check::Filesystem, 5, 26),
            (Check::Filesystem, 6, 15),
        ];
        assert_eq!(at(&schema_findings(source)), expected);
        assert_eq!(
            at(&handler_findings(
                source,
                crate::lua::ProfileName::default(),
                &[]
            )),
            expected
        );
        assert!(schema_findings(source)[0].message.contains("`io.open`"));
    }

    #[test]
    fn schema_requires_only_typedefs() {
        let source = "local t = require \"kong.db.schema.typedefs\"\n\
                      local t2 = require('kong.db.schema.typedefs')\n\
                      local c = require 'cjson'\n\
                      local d = require(name)";
        let found = schema_findings(source);
        assert_eq!(
            at(&found),
            [(Check::Require, 3, 11), (Check::Require, 4, 11)]
        );
        assert_eq!(
            found[0].message,
            "require 'cjson' not allowed within sandbox (schema)"
        );
        assert!(found[1].warning, "a computed module name is a warning");
    }

    #[test]
    fn hybrid_schemas_require_nothing() {
        let found =
            hybrid_schema_findings("local t = require 'kong.db.schema.typedefs'\nreturn {}");
        assert_eq!(at(&found), [(Check::Require, 1, 11)]);
        assert!(found[0]
            .message
            .contains("hybrid-mode schema may not require any module"));
    }

    #[test]
    fn handler_requires_follow_the_allow_list() {
        let source = "local a = require 'cjson.safe'\nlocal b = require 'resty.template'\nlocal ok, c = pcall(require, 'x')\nlocal v = require('kong.plugins.x').y\nlocal w = require 'my.mod'.z\nlocal m = require 'my.extra'";
        let allowed = vec!["my.extra".to_string()];
        let found = handler_findings(source, crate::lua::ProfileName::default(), &allowed);
        assert_eq!(
            at(&found),
            [
                (Check::Require, 2, 11),
                (Check::Require, 3, 21),
                (Check::Require, 4, 11),
                (Check::Require, 5, 11)
            ]
        );
        assert_eq!(
            found[0].message,
            "require 'resty.template' not allowed within sandbox (handler, sandbox profile 3.10)"
        );
        assert!(!found[0].warning);
        assert!(
            found[1].warning && found[1].message.contains("the pcall catches the error"),
            "a guarded require loads in Kong: {:?}",
            found[1]
        );
        let strict = handler_findings(
            "local http = require 'resty.http'",
            crate::lua::ProfileName::Strict,
            &[],
        );
        assert_eq!(at(&strict), [(Check::Require, 1, 14)]);
        assert!(handler_findings(
            "local http = require 'resty.http'",
            crate::lua::ProfileName::Lax,
            &[]
        )
        .is_empty());
    }

    #[test]
    fn deep_nesting_is_a_finding_not_a_crash() {
        for source in [
            format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            "return function() return ".repeat(20_000),
            "do ".repeat(50_000),
        ] {
            let found = syntax_errors(&source);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].line, 1);
            assert!(
                found[0].message.contains("too many syntax levels")
                    || found[0].message.contains("unexpected symbol"),
                "{found:?}"
            );
            assert!(handler_findings(&source, crate::lua::ProfileName::default(), &[]).is_empty());
        }
    }

    #[test]
    fn moderately_deep_files_parse_on_the_large_stack() {
        // Deeper than the inline limit and than a 2 MiB stack allows, within the scan limit.
        let source = format!(
            "{}os.execute('x'){}",
            "local f = function() ".repeat(300),
            " end".repeat(300)
        );
        let check = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || (syntax_errors(&source), schema_findings(&source)))
            .expect("thread")
            .join()
            .expect("no overflow");
        // LuaJIT refuses more than 200 syntax levels, as Kong would; the static checks still
        // run on the AST.
        assert_eq!(check.0.len(), 1, "{:?}", check.0);
        assert_eq!(check.1.len(), 1);
        assert_eq!(check.1[0].rule, Check::Filesystem);
    }

    #[test]
    fn checks_still_run_when_the_file_does_not_parse() {
        let source = "os.execute('x')\nlocal = broken";
        assert_eq!(at(&schema_findings(source)), [(Check::Filesystem, 1, 1)]);
        assert_eq!(at(&syntax_errors(source)), [(Check::LuaSyntax, 2, 7)]);
    }
}

#[cfg(test)]
mod parser_panic_tests {
    use super::*;

    #[test]
    fn a_parser_panic_is_a_syntax_finding_not_a_crash() {
        // full_moon 3.0 reaches `unreachable!` on a stray backtick.
        for source in ["`", "return `x`", "local a = 1\n`\n"] {
            let findings = syntax_errors(source);
            assert_eq!(findings.len(), 1, "{source:?}: {findings:?}");
            assert_eq!(findings[0].rule, Check::LuaSyntax);
            assert!(
                findings[0].message.contains("unexpected symbol near '`'"),
                "{findings:?}"
            );
            assert!(
                handler_findings(source, crate::lua::ProfileName::default(), &[])
                    .iter()
                    .all(|f| f.rule == Check::LuaSyntax)
            );
            assert!(!crate::luasyntax::parser_panic_expected());
        }
        let err = crate::schema::builtins::check(crate::schema::Builtin::LuaCode, "return `x`");
        assert!(err.is_err());
    }
}
