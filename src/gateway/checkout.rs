//! A checkout of a gateway's files: a directory holding its etc/ipsec.conf,
//! read the way that gateway would read it (for `diff --tree`).

use std::path::Path;

use crate::gateway::Gateway;
use crate::gateway::tree::Tree;
use crate::settings::Settings;
use crate::system::files::Root;

/// The include tree of the checkout in `dir`, with its own settings file
/// if it has one; an error when `dir` holds no readable ipsec.conf; settings given with -c (and no --root) apply instead.
/// Names only its name tables hold are resolved: nothing goes to the
/// system resolver.
pub fn load(dir: &Path, gw: &Gateway) -> Result<Tree, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{}: not a directory",
            crate::escape::escaped_path(dir)
        ));
    }
    let root = Root(Some(dir.to_path_buf()));
    let settings = match &gw.settings.source {
        // settings given with -c apply to both trees
        Some(_) if gw.root.0.is_none() => Settings::load(gw.settings.source.as_deref(), &root),
        _ => Settings::load(None, &root),
    }
    .map_err(|e| e.0)?;
    let gw = Gateway::new(settings, root, true);
    // a directory without the gateway's ipsec.conf is no tree to compare:
    // it cannot be read, which is not an error in a tree
    gw.check_ipsec_conf()
        .map_err(|e| format!("{}: not a gateway tree: {e}", dir.display()))?;
    Ok(Tree::load(&gw))
}
