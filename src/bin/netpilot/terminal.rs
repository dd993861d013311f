//! Reading answers from stdin: lines on a thread of their own, one per request, so that a
//! prompt waits together with the daemon's stream and Ctrl-C; and terminal echo off while a
//! secret is typed.

use std::io::{self, BufRead, IsTerminal};

use tokio::sync::mpsc;

/// Whether stdin is a terminal (a person types) rather than a pipe or a file (a script).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Echo off on stdin's terminal until dropped, as getpass(3) does: `ECHO` cleared, `ECHONL`
/// set so that Enter still ends the line on screen, line editing and Ctrl-C kept.
pub struct EchoOff {
    saved: libc::termios,
}

impl EchoOff {
    /// Turns echo off. Fails when stdin is not a terminal.
    pub fn new() -> io::Result<EchoOff> {
        let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes a whole termios into the pointer it is given.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, saved.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: tcgetattr succeeded, so it initialised the struct.
        let saved = unsafe { saved.assume_init() };
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a termios obtained from tcgetattr, changed in two flags.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the termios read in `new`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

/// One line from stdin without its line ending; `None` at the end of input (Ctrl-D at a
/// terminal, the end of a pipe).
pub type Line = io::Result<Option<String>>;

/// Reads stdin on a thread of its own, one line per [`LineAsker::ask`], never ahead: a
/// script's lines stay in the pipe until a question needs them. The thread is a plain one
/// (not the runtime's blocking pool), so a read still waiting never holds up the exit.
pub struct LineReader {
    lines: mpsc::Receiver<Line>,
}

/// Asks the reader thread for the next line.
#[derive(Clone)]
pub struct LineAsker {
    ask: std::sync::mpsc::Sender<()>,
}

impl LineAsker {
    /// Reads one more line; it arrives through [`LineReader::next`].
    pub fn ask(&self) {
        // The thread ends only when the reader is dropped; then nobody waits for the line.
        let _ = self.ask.send(());
    }
}

impl LineReader {
    /// Starts the reader thread.
    pub fn spawn() -> (LineReader, LineAsker) {
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (tx, lines) = mpsc::channel(1);
        std::thread::spawn(move || {
            let stdin = io::stdin();
            while asked.recv().is_ok() {
                let mut line = String::new();
                let result = match stdin.lock().read_line(&mut line) {
                    Ok(0) => Ok(None),
                    Ok(_) => Ok(Some(without_line_ending(line))),
                    Err(e) => Err(e),
                };
                if tx.blocking_send(result).is_err() {
                    break;
                }
            }
        });
        (LineReader { lines }, LineAsker { ask })
    }

    /// The line asked for.
    pub async fn next(&mut self) -> Line {
        match self.lines.recv().await {
            Some(line) => line,
            None => Err(io::Error::other("the stdin reader stopped")),
        }
    }
}

/// Drops one `\n` or `\r\n` at the end; spaces stay (a passphrase may end in one).
pub fn without_line_ending(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_goes() {
        for (raw, kept) in [
            ("pass word\n", "pass word"),
            ("pass word\r\n", "pass word"),
            ("trailing space \n", "trailing space "),
            ("no ending", "no ending"),
            ("\n", ""),
            ("two\n\n", "two\n"),
        ] {
            assert_eq!(without_line_ending(raw.to_string()), kept, "{raw:?}");
        }
    }
}
