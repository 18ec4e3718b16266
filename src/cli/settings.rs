//! Resolving where releases come from: flag, then environment variable, then default.
//!
//! [`resolve_sources`] is pure: the environment arrives as an [`Env`] value, so the precedence is
//! unit-tested without touching the process.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use crate::release::fetch::{DEFAULT_RELEASE_URL, Sources};

/// Environment variable: directory of `pipeline/<version>.yaml` files.
pub const ENV_RELEASE_DIR: &str = "TKN_MULTI_RELEASE_DIR";
/// Environment variable: cache root.
pub const ENV_CACHE_DIR: &str = "TKN_MULTI_CACHE_DIR";
/// Environment variable: download URL template with `{version}`.
pub const ENV_RELEASE_URL: &str = "TKN_MULTI_RELEASE_URL";

/// The process environment and home-derived defaults, as plain values.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Environment variables.
    pub vars: BTreeMap<String, String>,
    /// The platform cache directory (`~/.cache` on Linux), if there is one.
    pub user_cache_dir: Option<PathBuf>,
}

impl Env {
    /// Reads the real process environment.
    pub fn from_process() -> Self {
        Self { vars: std::env::vars().collect(), user_cache_dir: dirs::cache_dir() }
    }

    fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Flags that choose where a release comes from.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Release source options")]
pub struct SourceArgs {
    /// Use this `release.yaml` instead of looking the version up.
    #[arg(long, value_name = "FILE")]
    pub release_file: Option<PathBuf>,
    /// A directory of `pipeline/<VERSION>.yaml` files to look in first [env: `TKN_MULTI_RELEASE_DIR`]
    #[arg(long, value_name = "DIR")]
    pub release_dir: Option<PathBuf>,
    /// The release cache [env: `TKN_MULTI_CACHE_DIR`] [default: ~/.cache/tkn-multi]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Download URL, `{version}` is replaced [env: `TKN_MULTI_RELEASE_URL`]
    #[arg(long, value_name = "URL")]
    pub release_url: Option<String>,
    /// Never download; use only local files and the cache.
    #[arg(long)]
    pub offline: bool,
}

/// The cache root: flag, then `TKN_MULTI_CACHE_DIR`, then `<user cache>/tkn-multi`.
pub fn resolve_cache_dir(args: &SourceArgs, env: &Env) -> Option<PathBuf> {
    args.cache_dir
        .clone()
        .or_else(|| env.var(ENV_CACHE_DIR).map(PathBuf::from))
        .or_else(|| env.user_cache_dir.as_ref().map(|d| d.join("tkn-multi")))
}

/// Resolves the release sources: each setting from its flag, then its env var, then its default.
pub fn resolve_sources(args: &SourceArgs, env: &Env) -> Sources {
    Sources {
        release_file: args.release_file.clone(),
        release_dir: args
            .release_dir
            .clone()
            .or_else(|| env.var(ENV_RELEASE_DIR).map(PathBuf::from)),
        cache_dir: resolve_cache_dir(args, env),
        url_template: (!args.offline).then(|| {
            args.release_url
                .clone()
                .or_else(|| env.var(ENV_RELEASE_URL).map(str::to_owned))
                .unwrap_or_else(|| DEFAULT_RELEASE_URL.to_owned())
        }),
        expected_sha256: None,
        release_file_for_its_version_only: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            user_cache_dir: Some("/home/u/.cache".into()),
        }
    }

    #[test]
    fn flags_beat_env_beats_defaults() {
        let e = env(&[(ENV_CACHE_DIR, "/env/cache"), (ENV_RELEASE_URL, "http://env/{version}")]);
        let s = resolve_sources(&SourceArgs::default(), &e);
        assert_eq!(s.cache_dir.unwrap(), PathBuf::from("/env/cache"));
        assert_eq!(s.url_template.unwrap(), "http://env/{version}");
        let args = SourceArgs { cache_dir: Some("/flag".into()), ..SourceArgs::default() };
        assert_eq!(resolve_sources(&args, &e).cache_dir.unwrap(), PathBuf::from("/flag"));
        let s = resolve_sources(&SourceArgs::default(), &env(&[]));
        assert_eq!(s.cache_dir.unwrap(), PathBuf::from("/home/u/.cache/tkn-multi"));
        assert_eq!(s.url_template.unwrap(), DEFAULT_RELEASE_URL);
    }

    #[test]
    fn offline_disables_downloads_and_empty_env_counts_as_unset() {
        let args = SourceArgs { offline: true, ..SourceArgs::default() };
        assert!(resolve_sources(&args, &env(&[])).url_template.is_none());
        let s = resolve_sources(&SourceArgs::default(), &env(&[(ENV_RELEASE_DIR, "")]));
        assert!(s.release_dir.is_none());
    }
}
