//! Where a report lands, and how: every report is written into a sibling temporary directory and
//! swapped into place in one step, so a reader sees the old report or the new one, never a mix, and
//! a killed run leaves only a hidden temporary directory that the next run cleans up. xcrack
//! deletes nothing but its own temporary directories and a report it is replacing, and it refuses
//! up front to replace a directory that is not an xcrack report.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::ReportError;

/// Files a report directory holds: only these extensions, and `summary.json` always.
const REPORT_EXTENSIONS: &[&str] = &["json", "md", "csv", "parquet"];

/// Whether `dir` may receive a report: it does not exist, or it is a report xcrack wrote (a
/// `summary.json` and nothing but report files). A folder of the user's is never replaced.
pub fn check_target(dir: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let refuse = |why: &str| {
        Err(format!(
            "{} already exists and {why}; xcrack replaces only its own reports: choose another --out, name or seed",
            dir.display()
        ))
    };
    if !meta.is_dir() {
        return refuse("is not a directory");
    }
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut has_summary = false;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        let ext_ok = Path::new(name.as_ref())
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| REPORT_EXTENSIONS.contains(&e));
        if !is_file || !ext_ok {
            return refuse(&format!("holds `{name}`, which no xcrack report has"));
        }
        has_summary |= name == "summary.json";
    }
    if !has_summary {
        return refuse("has no summary.json (it is not an xcrack report)");
    }
    Ok(())
}

fn tmp_prefix(dir: &Path) -> String {
    format!(".{}.tmp-", dir.file_name().and_then(|n| n.to_str()).unwrap_or("report"))
}

fn process_alive(pid: u32) -> bool {
    // Linux and most Unixes expose live processes under /proc; elsewhere assume alive (keep it).
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `.NAME.tmp-PID` directories next to `dir` left by runs that were killed (their PID is
/// gone). Returns how many were removed.
pub fn clean_stale_tmp(dir: &Path) -> usize {
    let parent = parent_of(dir);
    let prefix = tmp_prefix(dir);
    let Ok(entries) = fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && pid != std::process::id() && !process_alive(pid) && fs::remove_dir_all(entry.path()).is_ok() {
            tracing::info!(target: "xcrack::report", path = %entry.path().display(), "removed a killed run's temporary report");
            removed += 1;
        }
    }
    removed
}

fn parent_of(dir: &Path) -> &Path {
    dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Atomically exchanges two existing paths (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Runs `fill` on a sibling temporary directory, then moves it to `dir`. An existing report at
/// `dir` is swapped out in one atomic exchange where the OS offers it (then removed), else moved
/// aside first; a failure in `fill` leaves `dir` untouched.
pub(crate) fn write_atomically(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let parent = parent_of(dir);
    fs::create_dir_all(parent).map_err(|e| ReportError::io(parent, e))?;
    clean_stale_tmp(dir);
    let tmp: PathBuf = parent.join(format!("{}{}", tmp_prefix(dir), std::process::id()));
    if tmp.exists() {
        // Our own PID's leftover (a previous run of this process for the same report).
        fs::remove_dir_all(&tmp).map_err(|e| ReportError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| ReportError::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if fs::symlink_metadata(dir).is_err() {
        return fs::rename(&tmp, dir).map_err(|e| ReportError::io(dir, e));
    }
    // Checked before the run too; checked again in case the directory changed meanwhile.
    if let Err(why) = check_target(dir) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(ReportError::Other(why));
    }
    match exchange(&tmp, dir) {
        // `tmp` now holds the old report.
        Ok(()) => {}
        Err(_) => {
            let old = parent.join(format!("{}{}-old", tmp_prefix(dir), std::process::id()));
            fs::rename(dir, &old).map_err(|e| ReportError::io(dir, e))?;
            fs::rename(&tmp, dir).map_err(|e| ReportError::io(dir, e))?;
            fs::rename(&old, &tmp).map_err(|e| ReportError::io(&old, e))?;
        }
    }
    fs::remove_dir_all(&tmp).map_err(|e| ReportError::io(&tmp, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dir: &Path, marker: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("summary.json"), marker).unwrap();
        fs::write(dir.join("trades.csv"), "a\n").unwrap();
    }

    #[test]
    fn a_report_is_replaced_in_place_and_nothing_else_is_touched() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("calm-42");
        report(&dir, "old");
        write_atomically(&dir, |tmp| fs::write(tmp.join("summary.json"), "new").map_err(|e| ReportError::io(tmp, e)))
            .unwrap();
        assert_eq!(fs::read_to_string(dir.join("summary.json")).unwrap(), "new");
        assert!(!dir.join("trades.csv").exists(), "the old report is gone whole");
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("calm-42")], "no temporary directory left");
    }

    #[test]
    fn a_folder_that_is_not_a_report_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("victim-42");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("notes.txt"), "keep me").unwrap();
        assert!(check_target(&dir).unwrap_err().contains("notes.txt"));
        report(&dir, "looks like a report");
        assert!(check_target(&dir).is_err(), "a report with a stranger's file in it is still refused");
        let file = d.path().join("plain");
        fs::write(&file, "x").unwrap();
        assert!(check_target(&file).is_err());
        assert!(check_target(&d.path().join("absent")).is_ok());
    }

    #[test]
    fn a_failed_fill_leaves_the_old_report() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("calm-42");
        report(&dir, "old");
        let r = write_atomically(&dir, |_| Err(ReportError::Other("boom".into())));
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(dir.join("summary.json")).unwrap(), "old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporary_directories_of_dead_runs_are_removed_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("calm-42");
        // PID 4194304 + 1 is above Linux's pid_max: never alive.
        let dead = d.path().join(".calm-42.tmp-4194305");
        let live = d.path().join(format!(".calm-42.tmp-{}", std::process::id()));
        let other = d.path().join(".other-1.tmp-4194305");
        for p in [&dead, &live, &other] {
            fs::create_dir_all(p).unwrap();
        }
        assert_eq!(clean_stale_tmp(&dir), 1);
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}
