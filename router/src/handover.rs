//! Router upgrades without a refused connection: the running router hands its listening
//! sockets to its successor, then drains and exits.
//!
//! Every router offers its listeners on a Unix socket in its state dir
//! ([`SOCKET_FILE`], mode 0600 in the 0700 dir). A router starting on that state dir
//! first asks there ([`take`]): the running one sends one message, a line naming the
//! listeners' roles in order (`paas-router-handover 1 http https`) with their file
//! descriptors (`SCM_RIGHTS`), and waits for a one-byte acknowledgement. The successor
//! uses the sockets whose addresses it is configured with and binds the rest itself;
//! once it is about to serve, it acknowledges ([`Taken::confirm`]), and the old router
//! stops accepting and drains as on SIGTERM.
//!
//! The two processes then share each socket and its accept queue: a connection that
//! arrives while one stops accepting and the other starts waits in the queue, and is
//! never refused. Without an acknowledgement (the successor failed) the old router keeps
//! serving.

use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};

/// The offer's socket, in the state dir.
pub const SOCKET_FILE: &str = "handover.sock";
/// The first word of the message, and the protocol's version.
const GREETING: &str = "paas-router-handover 1";
/// The most listeners one message carries.
const MAX_LISTENERS: usize = 4;
/// How long either side waits for the other.
const PATIENCE: Duration = Duration::from_secs(10);
/// The acknowledgement.
const ACK: u8 = b'k';

/// Listening sockets by role (`http`, `https`, ...).
pub type Listeners = HashMap<String, TcpListener>;

/// The listeners received from the running router, not yet acknowledged.
pub struct Taken {
    /// The sockets, by role.
    pub listeners: Listeners,
    stream: UnixStream,
}

impl Taken {
    /// Tells the old router to stop accepting and drain: this one serves from now on.
    pub fn confirm(mut self) -> io::Result<()> {
        self.stream.write_all(&[ACK])
    }
}

/// Asks the router serving from `state_dir` for its listeners; `None` when none
/// answers there (none runs, or it predates hand-overs).
pub fn take(state_dir: &Path) -> io::Result<Option<Taken>> {
    let path = state_dir.join(SOCKET_FILE);
    let stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let mut text = [0u8; 256];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_LISTENERS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        stream.as_fd(),
        &mut [IoSliceMut::new(&mut text)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    let line = std::str::from_utf8(&text[..got.bytes.min(text.len())]).unwrap_or_default();
    let roles = parse_greeting(line).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("not a hand-over message: {line:?}"))
    })?;
    if roles.len() != fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the message names {} listeners and carries {}", roles.len(), fds.len()),
        ));
    }
    let listeners = roles.into_iter().zip(fds).map(|(role, fd)| (role, TcpListener::from(fd))).collect();
    Ok(Some(Taken { listeners, stream }))
}

/// The roles a greeting line names, in order; `None` for another line.
fn parse_greeting(line: &str) -> Option<Vec<String>> {
    let rest = line.strip_suffix('\n')?.strip_prefix(GREETING)?;
    let roles: Vec<String> = rest.split(' ').filter(|r| !r.is_empty()).map(str::to_owned).collect();
    let valid = |r: &String| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    (roles.len() <= MAX_LISTENERS && roles.iter().all(valid)).then_some(roles)
}

/// The message that offers `roles`.
fn greeting(roles: &[&str]) -> String {
    let mut line = GREETING.to_owned();
    for role in roles {
        line.push(' ');
        line.push_str(role);
    }
    line.push('\n');
    line
}

/// Binds the offer's socket in `state_dir` (replacing a stale one, or the predecessor's,
/// whose listeners this router took already).
pub fn bind_offer(state_dir: &Path) -> io::Result<UnixListener> {
    let path = state_dir.join(SOCKET_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Offers `listeners` (copies of the ones this router serves on) on `offer` until a
/// successor acknowledges them; then returns, and the caller stops serving. A successor
/// that takes them and does not acknowledge is logged and the offer goes on. Blocking:
/// run it on a thread of its own.
pub fn offer(offer: UnixListener, listeners: Vec<(String, TcpListener)>, path: PathBuf) {
    let roles: Vec<&str> = listeners.iter().map(|(role, _)| role.as_str()).collect();
    let line = greeting(&roles);
    for stream in offer.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "the hand-over socket failed; upgrades will bind anew");
                return;
            }
        };
        match hand_over(&mut stream, &line, &listeners) {
            Ok(()) => {
                tracing::info!(socket = %path.display(), "a new router took the listeners: draining");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "a new router did not take the listeners; still serving"),
        }
    }
}

fn hand_over(stream: &mut UnixStream, line: &str, listeners: &[(String, TcpListener)]) -> io::Result<()> {
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let fds: Vec<_> = listeners.iter().map(|(_, l)| l.as_fd()).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_LISTENERS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("too many listeners for one message"));
    }
    rustix::net::sendmsg(stream.as_fd(), &[IoSlice::new(line.as_bytes())], &mut control, SendFlags::empty())?;
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack)?;
    match ack[0] {
        ACK => Ok(()),
        other => {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected acknowledgement {other}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_greeting_names_the_roles_in_order() {
        let line = greeting(&["http", "https"]);
        assert_eq!(line, "paas-router-handover 1 http https\n");
        assert_eq!(parse_greeting(&line), Some(vec!["http".to_owned(), "https".to_owned()]));
        assert_eq!(parse_greeting("paas-router-handover 1\n"), Some(vec![]));
        for bad in [
            "paas-router-handover 2 http\n",
            "paas-router-handover 1 http",
            "hello\n",
            "paas-router-handover 1 HTTP\n",
            "paas-router-handover 1 a b c d e\n",
        ] {
            assert_eq!(parse_greeting(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_successor_gets_the_same_sockets_and_the_old_one_returns_on_its_ack() {
        let dir = tempfile::tempdir().unwrap();
        let http = TcpListener::bind("127.0.0.1:0").unwrap();
        let https = TcpListener::bind("127.0.0.1:0").unwrap();
        let (http_addr, https_addr) = (http.local_addr().unwrap(), https.local_addr().unwrap());
        let socket = bind_offer(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SOCKET_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let offered = vec![("http".to_owned(), http.try_clone().unwrap()), ("https".to_owned(), https)];
        let path = dir.path().join(SOCKET_FILE);
        let old = std::thread::spawn(move || offer(socket, offered, path));

        // A connection made before the hand-over waits in the shared queue.
        let early = std::net::TcpStream::connect(http_addr).unwrap();
        drop(http);
        let taken = take(dir.path()).unwrap().expect("the old router answers");
        assert_eq!(taken.listeners["http"].local_addr().unwrap(), http_addr);
        assert_eq!(taken.listeners["https"].local_addr().unwrap(), https_addr);
        let listeners =
            taken.listeners.iter().map(|(r, l)| (r.clone(), l.try_clone().unwrap())).collect::<Vec<_>>();
        taken.confirm().unwrap();
        old.join().unwrap();
        let http = &listeners.iter().find(|(r, _)| r == "http").unwrap().1;
        let (accepted, _) = http.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), early.local_addr().unwrap());
        // And one made after it, too.
        let late = std::net::TcpStream::connect(http_addr).unwrap();
        let (accepted, _) = http.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), late.local_addr().unwrap());
    }

    #[test]
    fn without_a_router_there_is_nothing_to_take() {
        let dir = tempfile::tempdir().unwrap();
        assert!(take(dir.path()).unwrap().is_none());
        // A stale socket file nobody listens on.
        drop(bind_offer(dir.path()).unwrap());
        assert!(take(dir.path()).unwrap().is_none());
    }

    proptest! {
        #[test]
        fn any_line_parses_without_panicking(line in ".{0,300}") {
            let _ = parse_greeting(&line);
        }
    }
}
