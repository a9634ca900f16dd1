//! Standard output for every command. `println!` panics when a write fails (a full disk, a
//! closed pipe); here the first failure is kept, later output is skipped, and [`finish`]
//! reports it once and sets the exit status: a verdict, a key or a proof that never reached
//! its reader must not look delivered.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

use crate::exit::{EXIT_OK, EXIT_USAGE};

/// The first failed write to standard output, if any.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Writes to standard output, as `print!` does.
macro_rules! out {
    ($($arg:tt)*) => {{
        $crate::out::write(format_args!($($arg)*));
    }};
}

/// Writes a line to standard output, as `println!` does.
macro_rules! outln {
    () => {{
        $crate::out::write(format_args!("\n"));
    }};
    ($($arg:tt)*) => {{
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

pub(crate) use {out, outln};

/// Writes `args` to standard output unless an earlier write failed; a failure is kept for
/// [`finish`].
pub(crate) fn write(args: fmt::Arguments<'_>) {
    write_with(|out| out.write_fmt(args));
}

fn write_with(f: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut failed = FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if failed.is_none()
        && let Err(e) = f(&mut io::stdout().lock())
    {
        *failed = Some(e);
    }
}

/// Standard output as an [`io::Write`] for code that takes a writer: a failed write is kept
/// for [`finish`] (and reported as written, so that the caller goes on), later writes are
/// skipped.
pub(crate) struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_with(|out| out.write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Keeps `e`, a failed write to standard output by other means (a buffered writer), for
/// [`finish`].
pub(crate) fn failed(e: io::Error) {
    let mut failed = FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    failed.get_or_insert(e);
}

/// The exit status of a command that returned `code`, once standard output is flushed: a
/// failed write is reported on stderr and turns success into [`EXIT_USAGE`]. A closed pipe
/// (`acttrace summary log | head -1`) is the reader's choice and changes nothing.
pub(crate) fn finish(code: u8) -> u8 {
    if let Err(e) = io::stdout().lock().flush() {
        failed(e);
    }
    let failed = FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match failed {
        None => code,
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => code,
        Some(e) => {
            eprintln!("acttrace: error: cannot write to standard output: {e}");
            if code == EXIT_OK { EXIT_USAGE } else { code }
        }
    }
}
