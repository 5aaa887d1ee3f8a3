//! Child process groups hifi starts (trainers, reward commands) and how they are ended.
//!
//! Each such command runs in its own process group, so a Ctrl-C at the terminal reaches
//! only hifi, and ending it ends everything it started — `sh -c` and whatever that
//! shell started in turn. A [`Group`] is registered while its command runs; dropping it
//! (a normal return, an error, a panic unwinding) ends what is left of the group, and
//! [`end_all`] ends every registered group (hifi's second Ctrl-C, SIGTERM/SIGHUP, exit).
//! On Linux the group's first process also dies with the hifi thread that started it,
//! should hifi itself be SIGKILLed.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a group gets after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static STOP: AtomicBool = AtomicBool::new(false);

/// Run `cmd` in a new process group of its own (its pid is the group id); on Linux it is
/// killed if the thread that spawns it goes away.
pub fn own_group(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, kill).
        let parent = std::process::id() as i32;
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died before the prctl took effect: nobody will stop us.
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    cmd
}

/// A live process group, ended when dropped.
#[derive(Debug)]
pub struct Group {
    pgid: i32,
}

impl Group {
    /// Register the group `child` leads (it was started with [`own_group`]).
    pub fn of(child: &Child) -> Group {
        let pgid = child.id() as i32;
        lock().push(pgid);
        Group { pgid }
    }

    /// End the group now: SIGTERM to all of it, up to [`GRACE`] to leave, then SIGKILL.
    /// `child` (the group's leader) is reaped meanwhile.
    pub fn end(&self, child: &mut Child) {
        end_group(self.pgid, || {
            let _ = child.try_wait();
        });
        let _ = child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        lock().retain(|&g| g != self.pgid);
        end_group(self.pgid, || {});
    }
}

/// End every registered group (a second Ctrl-C, SIGTERM/SIGHUP, hifi exiting).
pub fn end_all() {
    let groups: Vec<i32> = lock().clone();
    for g in &groups {
        // SAFETY: plain syscalls on a group id we started.
        unsafe { libc::killpg(*g, libc::SIGTERM) };
    }
    for g in groups {
        end_group(g, || {});
    }
}

/// Call `handler` on SIGINT, SIGTERM and SIGHUP (from a thread of its own). A hangup that
/// was ignored when hifi started (`nohup hifi …`) stays ignored.
pub fn on_signals(handler: impl FnMut() + Send + 'static) -> Result<(), ctrlc::Error> {
    // SAFETY: sigaction with a null new action only reads the current one.
    let hup_ignored = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    };
    ctrlc::set_handler(handler)?;
    if hup_ignored {
        // SAFETY: restores the disposition hifi was started with.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    }
    Ok(())
}

/// hifi was asked to stop (a signal): long-running loops such as the workstation's end.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Ends every registered group when dropped (hold one in `main`, so a panic unwinding
/// through it still ends them).
pub struct EndAllOnDrop;

impl Drop for EndAllOnDrop {
    fn drop(&mut self) {
        end_all();
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<i32>> {
    GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Does any process of group `pgid` still exist (zombies included)?
fn alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

fn end_group(pgid: i32, mut reap: impl FnMut()) {
    if pgid <= 1 || !alive(pgid) {
        return;
    }
    // SAFETY: plain syscalls on a group id we started.
    unsafe { libc::killpg(pgid, libc::SIGTERM) };
    let t0 = Instant::now();
    while t0.elapsed() < GRACE {
        reap();
        if !alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
    reap();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_alive(pid: i32) -> bool {
        // A zombie is dead for our purposes.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
    }

    #[test]
    fn ending_a_group_ends_the_grandchild_and_dropping_one_ends_it_too() {
        let dir = tempfile::tempdir().unwrap();
        for how in ["end", "drop"] {
            let pidfile = dir.path().join(format!("{how}.pid"));
            let mut c = Command::new("sh");
            c.arg("-c").arg("sleep 300 & echo $! > \"$1\"; wait").arg("sh").arg(&pidfile);
            let mut child = own_group(&mut c).spawn().unwrap();
            let g = Group::of(&child);
            let t0 = Instant::now();
            let pid = loop {
                if let Some(p) = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    break p;
                }
                assert!(t0.elapsed() < Duration::from_secs(10), "the grandchild never started");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(pid_alive(pid));
            if how == "end" {
                g.end(&mut child);
                drop(g);
            } else {
                drop(g);
                let _ = child.wait();
            }
            assert!(!pid_alive(pid), "{how}: the grandchild {pid} survived");
            assert!(!lock().contains(&(child.id() as i32)), "{how}: the group is still registered");
        }
    }

    #[test]
    fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let mut c = Command::new("sh");
        c.arg("-c").arg("trap '' TERM; sleep 300 & wait");
        let mut child = own_group(&mut c).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        Group::of(&child).end(&mut child);
        assert!(t0.elapsed() >= GRACE && t0.elapsed() < GRACE + Duration::from_secs(3));
        assert!(!alive(child.id() as i32));
    }
}
