//! The receive-pack protocol's messages, as bytes: the ref advertisement, the update
//! commands a client sends, side-band framing and the `report-status` answer. Pure
//! functions over `paas_core::pktline`; no I/O.

use git2::Oid;
use paas_core::pktline::{self, Pkt};

/// What the builder offers. Not `delete-refs` (deletes are refused), not `atomic` or
/// `push-options` (not implemented).
pub fn capabilities() -> String {
    format!("report-status side-band-64k ofs-delta quiet agent=paas/{}", env!("CARGO_PKG_VERSION"))
}

/// The body of `GET /<app>.git/info/refs?service=git-receive-pack`: the service line, a
/// flush, the refs (the first carrying the capabilities; an empty repository
/// advertises `capabilities^{}` with the zero id) and a flush.
pub fn advertisement(refs: &[(Oid, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let line = |out: &mut Vec<u8>, text: &str| {
        // Ref names are short; a line longer than a pkt-line is left out rather than sent broken.
        let _ = pktline::write_text(out, text);
    };
    line(&mut out, "# service=git-receive-pack");
    pktline::write_flush(&mut out);
    let caps = capabilities();
    match refs.split_first() {
        None => line(&mut out, &format!("{} capabilities^{{}}\0{caps}", Oid::zero())),
        Some(((oid, name), rest)) => {
            line(&mut out, &format!("{oid} {name}\0{caps}"));
            for (oid, name) in rest {
                line(&mut out, &format!("{oid} {name}"));
            }
        }
    }
    pktline::write_flush(&mut out);
    out
}

/// One `old new ref` line of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What the client believes the ref is now (zero: it does not exist).
    pub old: Oid,
    /// What the client wants it to be (zero: delete it).
    pub new: Oid,
    /// The full ref name, `refs/heads/main`.
    pub name: String,
}

impl Command {
    /// Whether the client asks to delete the ref.
    pub fn is_delete(&self) -> bool {
        self.new.is_zero()
    }
}

/// The capabilities the client asked for, from its first command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// Progress and the report travel in side-band-64k packets.
    pub side_band_64k: bool,
    /// The client wants a `report-status` answer.
    pub report_status: bool,
    /// The client asked for no progress (git does whenever stderr is not a terminal);
    /// build output is sent anyway, as git sends hook output.
    pub quiet: bool,
}

/// The command section of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    /// In the order sent.
    pub list: Vec<Command>,
    /// From the first command.
    pub caps: ClientCaps,
}

/// Why a push request is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Bad framing.
    #[error(transparent)]
    PktLine(#[from] pktline::PktLineError),
    /// A command line is not `<old> <new> <ref>`.
    #[error("a push command is not `<old-id> <new-id> <ref>`")]
    BadCommand,
    /// A special line where a command was expected.
    #[error("unexpected {0} line among the push commands")]
    Unexpected(&'static str),
    /// More commands than any real push sends.
    #[error("more than {MAX_COMMANDS} push commands")]
    TooManyCommands,
}

/// The most commands one push may carry.
pub const MAX_COMMANDS: usize = 1000;

/// Parses one command line (payload of a pkt-line), which for the first line carries
/// the client's capabilities after a NUL.
pub fn parse_command(payload: &[u8]) -> Result<(Command, Option<ClientCaps>), ProtocolError> {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    let (command, caps) = match payload.iter().position(|&b| b == 0) {
        Some(nul) => (&payload[..nul], Some(parse_caps(&payload[nul + 1..]))),
        None => (payload, None),
    };
    let text = std::str::from_utf8(command).map_err(|_| ProtocolError::BadCommand)?;
    let mut parts = text.splitn(3, ' ');
    let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ProtocolError::BadCommand);
    };
    let oid = |s: &str| {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Oid::from_str(s).map_err(|_| ProtocolError::BadCommand)
        } else {
            Err(ProtocolError::BadCommand)
        }
    };
    if name.is_empty() || name.contains(['\0', ' ', '\n']) {
        return Err(ProtocolError::BadCommand);
    }
    Ok((Command { old: oid(old)?, new: oid(new)?, name: name.to_owned() }, caps))
}

fn parse_caps(bytes: &[u8]) -> ClientCaps {
    let mut caps = ClientCaps::default();
    for word in bytes.split(|&b| b == b' ') {
        match word {
            b"side-band-64k" => caps.side_band_64k = true,
            b"report-status" => caps.report_status = true,
            b"quiet" => caps.quiet = true,
            _ => {}
        }
    }
    caps
}

/// Reads the command section from the front of `buf`: `Ok(None)` when more bytes are
/// needed, else the commands and how many bytes they took (the pack follows).
pub fn parse_commands(buf: &[u8]) -> Result<Option<(Commands, usize)>, ProtocolError> {
    let mut commands = Commands::default();
    let mut at = 0;
    loop {
        let Some((pkt, used)) = pktline::parse(&buf[at..])? else {
            return Ok(None);
        };
        at += used;
        match pkt {
            Pkt::Flush => return Ok(Some((commands, at))),
            Pkt::Delim => return Err(ProtocolError::Unexpected("delim")),
            Pkt::ResponseEnd => return Err(ProtocolError::Unexpected("response-end")),
            Pkt::Data(payload) => {
                if commands.list.len() == MAX_COMMANDS {
                    return Err(ProtocolError::TooManyCommands);
                }
                let (command, caps) = parse_command(payload)?;
                if commands.list.is_empty() {
                    commands.caps = caps.unwrap_or_default();
                }
                commands.list.push(command);
            }
        }
    }
}

/// Band 1: pack data and the report; band 2: progress; band 3: a fatal error.
pub const BAND_DATA: u8 = 1;
/// Progress lines, shown by git as `remote: ...`.
pub const BAND_PROGRESS: u8 = 2;

/// Wraps `data` in side-band packets of `band`, split to fit.
pub fn sideband(band: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for chunk in data.chunks(pktline::MAX_PAYLOAD_LEN - 1) {
        let mut payload = Vec::with_capacity(chunk.len() + 1);
        payload.push(band);
        payload.extend_from_slice(chunk);
        // Cannot fail: the chunk leaves room for the band byte.
        let _ = pktline::write_data(&mut out, &payload);
    }
    out
}

/// The `report-status` section: `unpack ok` or `unpack <reason>`, then `ok <ref>` or
/// `ng <ref> <reason>` per command, then a flush.
pub fn report(unpack: &Result<(), String>, results: &[(String, Result<(), String>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let mut line = |text: String| {
        let mut text = text;
        text.truncate(1000);
        let _ = pktline::write_text(&mut out, &text);
    };
    match unpack {
        Ok(()) => line("unpack ok".into()),
        Err(reason) => line(format!("unpack {}", one_line(reason))),
    }
    for (name, result) in results {
        match result {
            Ok(()) => line(format!("ok {name}")),
            Err(reason) => line(format!("ng {name} {}", one_line(reason))),
        }
    }
    pktline::write_flush(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn advertises_an_empty_repository() {
        let text = String::from_utf8(advertisement(&[])).unwrap();
        assert!(text.starts_with("001f# service=git-receive-pack\n0000"));
        assert!(text.contains("0000000000000000000000000000000000000000 capabilities^{}\0report-status"));
        assert!(!text.contains("delete-refs"));
        assert!(text.ends_with("\n0000"));
    }

    #[test]
    fn advertises_refs_with_capabilities_on_the_first() {
        let a = Oid::from_str(A).unwrap();
        let text =
            String::from_utf8(advertisement(&[(a, "refs/heads/main".into()), (a, "refs/heads/x".into())]))
                .unwrap();
        assert!(text.contains(&format!("{A} refs/heads/main\0report-status side-band-64k")));
        assert!(text.contains(&format!("{A} refs/heads/x\n")));
    }

    #[test]
    fn parses_commands_and_capabilities() {
        let mut body = Vec::new();
        pktline::write_data(
            &mut body,
            format!("{A} {B} refs/heads/main\0report-status side-band-64k agent=git/2\n").as_bytes(),
        )
        .unwrap();
        pktline::write_text(&mut body, &format!("{A} {} refs/heads/old", Oid::zero())).unwrap();
        pktline::write_flush(&mut body);
        body.extend_from_slice(b"PACK");
        assert_eq!(parse_commands(&body[..body.len() - 10]).unwrap(), None);
        let (commands, used) = parse_commands(&body).unwrap().unwrap();
        assert_eq!(&body[used..], b"PACK");
        assert_eq!(commands.list.len(), 2);
        assert_eq!(commands.list[0].name, "refs/heads/main");
        assert!(commands.list[1].is_delete());
        assert_eq!(commands.caps, ClientCaps { side_band_64k: true, report_status: true, quiet: false });
    }

    #[test]
    fn refuses_malformed_commands() {
        assert_eq!(parse_command(b"hello"), Err(ProtocolError::BadCommand));
        assert_eq!(parse_command(format!("{A} {B}").as_bytes()), Err(ProtocolError::BadCommand));
        assert_eq!(parse_command(format!("{A} zz {B}").as_bytes()), Err(ProtocolError::BadCommand));
        assert!(parse_commands(b"0001").is_err());
        assert!(parse_commands(b"garbage!").is_err());
    }

    #[test]
    fn reports_in_one_line_per_ref() {
        let r = report(
            &Ok(()),
            &[("refs/heads/main".into(), Ok(())), ("refs/heads/x".into(), Err("no\nway".into()))],
        );
        assert_eq!(r, b"000eunpack ok\n0017ok refs/heads/main\n001bng refs/heads/x no way\n0000");
    }

    #[test]
    fn splits_side_band_packets() {
        let data = vec![b'x'; pktline::MAX_PAYLOAD_LEN];
        let out = sideband(BAND_PROGRESS, &data);
        let (first, used) = pktline::parse(&out).unwrap().unwrap();
        assert_eq!(used, pktline::MAX_LINE_LEN);
        assert_eq!(first, Pkt::Data(&out[4..used]));
        assert_eq!(out[4], BAND_PROGRESS);
        assert_eq!(pktline::parse(&out[used..]).unwrap().unwrap().1, 4 + 1 + 1);
    }
}
