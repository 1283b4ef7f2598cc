//! A model of the parts of isakmpd that the conf.c/ui.c harness stubs:
//! connections, SAs and exchanges, on a virtual clock.
//!
//! It is driven by what the harness prints: each batch of FIFO lines runs
//! through isakmpd-conf (`--init` with the database so far), and the stub
//! events it prints (`# connect`, `# connection_teardown`, `# teardown`,
//! `# connection_reinit`, `# sa_report_all`) are applied here; the dump is
//! the configuration the model reads, as isakmpd reads its own. Peers are
//! scripted: silent, answering phase 1 only, answering both, or answering
//! late when a test says so.
//!
//! Sources followed (OpenBSD sbin/isakmpd, `$OpenBSD:` revisions):
//! connection.c 1.41, sa.c 1.125, exchange.c 1.142, transport.c 1.39,
//! pf_key_v2.c 1.205 (pf_key_v2_connection_check), and the harness' own
//! ui.c 1.58 and conf.h (defaults). `S` is ui.c ui_report_sa, which writes
//! sa.c sa_report_all to the result file.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::isakmpd::{self, Dump};

/// conf.h CONF_DFLT_EXCH_MAX_TIME / exchange.h EXCHANGE_MAX_TIME.
pub const EXCHANGE_MAX_TIME: u64 = 120;
/// conf.h CONF_DFLT_RETRANSMITS, which conf_load_defaults sets at startup
/// (transport.c's own RETRANSMIT_DEFAULT, 10, applies only without it).
/// The harness dumps no defaults, so the model falls back to these when
/// the database does not set a value.
pub const RETRANSMITS: u64 = 3;
/// connection.c CHECK_INTERVAL.
pub const CHECK_INTERVAL: u64 = 60;
/// ui.c ui_conn_reinit: the reinit runs 5 s after the last list change.
pub const REINIT_DELAY: u64 = 5;
/// The ISAKMP port a real SA's transport has (udp.c); ui_teardown's
/// address has port 0.
pub const ISAKMP_PORT: u16 = 500;

/// sa.h flags.
pub const SA_FLAG_READY: u32 = 0x01;
pub const SA_FLAG_STAYALIVE: u32 = 0x02;
pub const SA_FLAG_REPLACED: u32 = 0x08;

/// How a scripted peer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Never answers: exchanges retransmit, give up, and die at max time.
    Silent,
    /// Answers phase 1, never phase 2.
    Phase1Only,
    /// Answers both phases at once.
    Answers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    pub id: usize,
    /// Set only when its exchange finishes (exchange.c exchange_finalize
    /// moves the exchange's name over); `None` prints `<unnamed>`.
    pub name: Option<String>,
    pub phase: u8,
    pub initiator: bool,
    /// The transport's peer address and port; `None` until the peer's
    /// first reply (exchange_establish_p1 creates the SA without one).
    pub peer: Option<(String, u16)>,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub id: usize,
    pub name: String,
    pub phase: u8,
    pub initiator: bool,
    pub peer: String,
    /// exchange->policy: a pointer to the value of `[name]:Configuration`
    /// in the config store, taken when the exchange is made. Kept here as
    /// the section and the value it pointed at.
    pub policy: Option<(String, String)>,
    /// Times the current message was sent (transport.c msg->xmits).
    pub xmits: u64,
    /// When it is sent again; `None` once it gave up.
    pub retransmit_at: Option<u64>,
    /// exchange_create: now + Exchange-max-time, when exchange_free_aux runs.
    pub dies_at: u64,
    /// The SA it negotiates (sa_create), freed with it if never finished.
    pub sa: usize,
    /// Phase 2 connections to establish once this phase 1 finishes
    /// (exchange_establish_finalize added by exchange_establish).
    pub then_establish: Vec<String>,
}

/// One active connection (connection.c struct connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub name: String,
    /// When connection_checker runs next.
    pub check_at: u64,
}

pub struct Model {
    pub now: u64,
    /// The configuration database, as the harness dumps it.
    pub config: Dump,
    pub active: Vec<Connection>,
    pub passive: Vec<String>,
    pub sas: Vec<Sa>,
    pub exchanges: Vec<Exchange>,
    /// ui.c ui_cr_event: when the deferred connection_reinit runs.
    pub reinit_at: Option<u64>,
    pub peers: BTreeMap<String, Peer>,
    /// What isakmpd would log, with the time.
    pub log: Vec<String>,
    /// Things that crash a real isakmpd (use after free).
    pub hazards: Vec<String>,
    /// The last `S` result (ui.c ui_report_sa writes it to the result file).
    pub last_report: Option<String>,
    next_id: usize,
}

impl Model {
    /// isakmpd just started, without a configuration file: an empty
    /// database, no connections.
    pub fn new() -> Model {
        Model {
            now: 0,
            config: Dump {
                lines: Vec::new(),
                stderr: String::new(),
            },
            active: Vec::new(),
            passive: Vec::new(),
            sas: Vec::new(),
            exchanges: Vec::new(),
            reinit_at: None,
            peers: BTreeMap::new(),
            log: Vec::new(),
            hazards: Vec::new(),
            last_report: None,
            next_id: 1,
        }
    }

    pub fn peer(&mut self, address: &str, behaviour: Peer) {
        self.peers.insert(address.to_string(), behaviour);
    }

    fn behaviour(&self, address: &str) -> Peer {
        *self.peers.get(address).unwrap_or(&Peer::Silent)
    }

    fn say(&mut self, what: String) {
        self.log.push(format!("{:>5}s {what}", self.now));
    }

    fn conf(&self, section: &str, tag: &str) -> Option<String> {
        self.config.get(section, tag)
    }

    fn conf_num(&self, section: &str, tag: &str, default: u64) -> u64 {
        self.conf(section, tag)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    // ---- the FIFO -------------------------------------------------------

    /// isakmpd reads `lines` from its FIFO now: the harness runs them on
    /// the database so far, and the stubbed calls it reports are carried
    /// out here, in order.
    pub fn feed<S: AsRef<str>>(&mut self, lines: &[S]) {
        let dump = run_batch(&self.config, lines);
        for event in dump.events() {
            self.event(&event);
        }
        self.config = dump;
    }

    fn event(&mut self, event: &str) {
        let words: Vec<&str> = event.trim_start_matches("# ").split(' ').collect();
        let arg = |key: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(key))
                .map(str::to_string)
        };
        match words[0] {
            "connect" => self.connection_setup(&arg("name=").unwrap_or_default()),
            "connection_teardown" => self.connection_teardown(&arg("name=").unwrap_or_default()),
            "teardown" => {
                let phase: u8 = arg("phase=").and_then(|p| p.parse().ok()).unwrap_or(2);
                if let Some(name) = arg("name=") {
                    self.teardown_by_name(&name, phase);
                } else if let Some(peer) = arg("peer=") {
                    self.teardown_by_peer(&peer, phase);
                }
            }
            "connection_reinit" => self.ui_conn_reinit(),
            "teardown-all" => self.sa_teardown_all(),
            "sa_report_all" => self.last_report = Some(self.report()),
            _ => {}
        }
    }

    /// ui.c ui_conn_reinit: a change of `[Phase 2]:Connections` or
    /// `Passive-Connections` (re)arms one timer, 5 s ahead; the harness
    /// reports that the batch armed it by firing it at end of input.
    fn ui_conn_reinit(&mut self) {
        self.reinit_at = Some(self.now + REINIT_DELAY);
    }

    // ---- connections (connection.c) ---------------------------------------

    /// connection_setup: adds NAME to the active list unless there (case
    /// insensitive), with its checker due now.
    fn connection_setup(&mut self, name: &str) {
        if self
            .active
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
        {
            return;
        }
        self.active.push(Connection {
            name: name.to_string(),
            check_at: self.now,
        });
    }

    /// connection_teardown: off the active list, checker cancelled. The
    /// passive record stays (connection_passive_teardown is static and only
    /// connection_reinit calls it).
    fn connection_teardown(&mut self, name: &str) {
        self.active.retain(|c| !c.name.eq_ignore_ascii_case(name));
    }

    /// connection_record_passive: needs `Local-ID` in the section.
    fn connection_record_passive(&mut self, name: &str) {
        if self.passive.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            return;
        }
        if self.conf(name, "Local-ID").is_none() {
            self.say(format!(
                "connection_record_passive: \"Local-ID\" is missing from section [{name}]"
            ));
            return;
        }
        self.passive.push(name.to_string());
    }

    /// connection_reinit: drop both lists, then connection_init rebuilds
    /// them from `[Phase 2]:Connections` (each set up, and recorded passive
    /// unless its Flags say active-only) and `Passive-Connections`.
    fn connection_reinit(&mut self) {
        self.say("connection_reinit".into());
        self.active.clear();
        self.passive.clear();
        for name in self.config.connections() {
            self.connection_setup(&name);
            let active_only = self
                .config
                .list(&name, "Flags")
                .iter()
                .any(|f| f.eq_ignore_ascii_case("active-only"));
            if !active_only {
                self.connection_record_passive(&name);
            }
        }
        for name in self.config.passive_connections() {
            self.connection_record_passive(&name);
        }
    }

    /// connection_checker: re-armed every General:check-interval, then
    /// pf_key_v2_connection_check: no phase 2 SA by that name (replaced
    /// ones do not count, sa_lookup_by_name) starts exchange_establish.
    fn connection_checker(&mut self, name: &str) {
        let interval = self.conf_num("General", "Check-interval", CHECK_INTERVAL);
        if let Some(c) = self
            .active
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(name))
        {
            c.check_at = self.now + interval;
        }
        if self.sa_lookup_by_name(name, 2).is_none() {
            self.exchange_establish(name);
        }
    }

    // ---- SAs (sa.c) -----------------------------------------------------------

    /// sa_lookup_by_name: name (case-insensitive) and phase, not replaced;
    /// readiness is not checked.
    pub fn sa_lookup_by_name(&self, name: &str, phase: u8) -> Option<usize> {
        self.sas
            .iter()
            .find(|s| {
                s.phase == phase
                    && s.flags & SA_FLAG_REPLACED == 0
                    && s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|s| s.id)
    }

    /// sa_check_peer: a ready SA of that phase with a transport whose
    /// address and port equal the ones asked for.
    fn sa_lookup_by_peer(&self, address: &str, port: u16, phase: u8) -> Option<usize> {
        self.sas
            .iter()
            .find(|s| {
                s.flags & SA_FLAG_READY != 0
                    && s.phase == phase
                    && s.peer
                        .as_ref()
                        .is_some_and(|(a, p)| a == address && *p == port)
            })
            .map(|s| s.id)
    }

    /// ui_teardown by name: phase 2 also ran connection_teardown (reported
    /// as its own event); here every non-replaced SA of that name and phase
    /// is deleted (sa_delete). Exchanges in flight are not touched.
    fn teardown_by_name(&mut self, name: &str, phase: u8) {
        while let Some(id) = self.sa_lookup_by_name(name, phase) {
            self.say(format!("sa_delete {name} phase {phase}"));
            self.sas.retain(|s| s.id != id);
        }
    }

    /// ui_teardown by address: the sockaddr it builds has port 0, and
    /// sa_check_peer compares the port, so no real SA (port 500/4500)
    /// ever matches.
    fn teardown_by_peer(&mut self, address: &str, phase: u8) {
        while let Some(id) = self.sa_lookup_by_peer(address, 0, phase) {
            if let Some(name) = self
                .sas
                .iter()
                .find(|s| s.id == id)
                .and_then(|s| s.name.clone())
            {
                self.connection_teardown(&name);
            }
            self.sas.retain(|s| s.id != id);
        }
    }

    /// sa_teardown_all (`T`): every phase 2 SA, its connection torn down.
    fn sa_teardown_all(&mut self) {
        let phase2: Vec<Sa> = self.sas.iter().filter(|s| s.phase == 2).cloned().collect();
        for sa in phase2 {
            if let Some(name) = &sa.name {
                self.connection_teardown(name);
            }
            self.sas.retain(|s| s.id != sa.id);
        }
    }

    fn sa_create(&mut self, phase: u8, initiator: bool, peer: Option<(String, u16)>) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.sas.push(Sa {
            id,
            name: None,
            phase,
            initiator,
            peer,
            flags: 0,
        });
        id
    }

    // ---- exchanges (exchange.c, transport.c) ------------------------------------

    /// exchange_lookup_by_name: an exchange of that name and phase that has
    /// not finished. One that gave up retransmitting still counts (its
    /// last_sent is cleared, which the lookup takes as "not finished")
    /// until exchange_free_aux removes it at max time.
    fn exchange_lookup_by_name(&self, name: &str, phase: u8) -> Option<usize> {
        self.exchanges
            .iter()
            .position(|e| e.phase == phase && e.name.eq_ignore_ascii_case(name))
    }

    /// exchange_establish: never a second exchange of a name; phase 2
    /// needs the ISAKMP-peer's phase 1 SA (by name), else establishes the
    /// peer first and continues when it finishes.
    pub fn exchange_establish(&mut self, name: &str) {
        let phase = self.conf_num(name, "Phase", 0);
        if self.exchange_lookup_by_name(name, phase as u8).is_some() {
            return;
        }
        match phase {
            1 => {
                let id = self.exchange_establish_p1(name);
                self.send(id);
            }
            2 => {
                let Some(peer) = self.conf(name, "ISAKMP-peer") else {
                    self.say(format!(
                        "exchange_establish: No ISAKMP-peer given for \"{name}\""
                    ));
                    return;
                };
                if let Some(isakmp_sa) = self.sa_lookup_by_name(&peer, 1) {
                    let id = self.exchange_establish_p2(isakmp_sa, name);
                    self.send(id);
                    return;
                }
                if self.conf_num(&peer, "Phase", 0) != 1 {
                    self.say(format!(
                        "exchange_establish: [{name}]:ISAKMP-peer's ({peer}) phase is not 1"
                    ));
                    return;
                }
                // the phase 1 exchange carries the finalization from the
                // start, so an answer to its first message goes on to phase 2
                let fresh = match self.exchange_lookup_by_name(&peer, 1) {
                    Some(_) => None,
                    None => Some(self.exchange_establish_p1(&peer)),
                };
                if let Some(i) = self.exchange_lookup_by_name(&peer, 1) {
                    self.exchanges[i].then_establish.push(name.to_string());
                }
                if let Some(id) = fresh {
                    self.send(id);
                }
            }
            _ => self.say(format!(
                "exchange_establish: peer \"{name}\" does not have a correct phase ({phase})"
            )),
        }
    }

    /// exchange_establish_p1: the SA has no transport yet and no name;
    /// exchange->policy points into `[name]:Configuration`.
    fn exchange_establish_p1(&mut self, name: &str) -> usize {
        let peer = self.conf(name, "Address").unwrap_or_default();
        let sa = self.sa_create(1, true, None);
        self.exchange_create(name, 1, true, &peer, sa)
    }

    /// exchange_establish_p2: the SA rides on the phase 1 SA's transport.
    fn exchange_establish_p2(&mut self, isakmp_sa: usize, name: &str) -> usize {
        let transport = self
            .sas
            .iter()
            .find(|s| s.id == isakmp_sa)
            .and_then(|s| s.peer.clone());
        let peer = transport.as_ref().map(|t| t.0.clone()).unwrap_or_default();
        let sa = self.sa_create(2, true, transport);
        self.exchange_create(name, 2, true, &peer, sa)
    }

    /// exchange_create: alive until Exchange-max-time; the caller sends
    /// its first message.
    fn exchange_create(
        &mut self,
        name: &str,
        phase: u8,
        initiator: bool,
        peer: &str,
        sa: usize,
    ) -> usize {
        let max = self.conf_num("General", "Exchange-max-time", EXCHANGE_MAX_TIME);
        let policy = self
            .conf(name, "Configuration")
            .map(|v| (name.to_string(), v));
        let id = self.next_id;
        self.next_id += 1;
        self.say(format!("exchange {name} phase {phase} to {peer} starts"));
        self.exchanges.push(Exchange {
            id,
            name: name.to_string(),
            phase,
            initiator,
            peer: peer.to_string(),
            policy,
            xmits: 0,
            retransmit_at: None,
            dies_at: self.now + max,
            sa,
            then_establish: Vec::new(),
        });
        id
    }

    /// transport_send_messages: each send counts; past General:retransmits
    /// the exchange gives up (but lives on until max time), else the next
    /// send is due in xmits * 2 + 5 seconds. A peer that answers this phase
    /// answers the send at once.
    fn send(&mut self, id: usize) {
        let limit = self.conf_num("General", "Retransmits", RETRANSMITS);
        let Some(i) = self.exchanges.iter().position(|e| e.id == id) else {
            return;
        };
        let answers = match self.behaviour(&self.exchanges[i].peer) {
            Peer::Answers => true,
            Peer::Phase1Only => self.exchanges[i].phase == 1,
            Peer::Silent => false,
        };
        let e = &mut self.exchanges[i];
        e.xmits += 1;
        if answers {
            self.finish(id);
            return;
        }
        if e.xmits > limit {
            e.retransmit_at = None;
            let what = format!(
                "transport_send_messages: giving up on exchange {}, no response from peer {}",
                e.name, e.peer
            );
            self.say(what);
        } else {
            e.retransmit_at = Some(self.now + e.xmits * 2 + 5);
        }
    }

    /// The peer at `address` answers now, late or not: every exchange with
    /// it still alive finishes (message_recv finds it by cookies even after
    /// it gave up retransmitting).
    pub fn answer(&mut self, address: &str) {
        let ids: Vec<usize> = self
            .exchanges
            .iter()
            .filter(|e| e.peer == address)
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.finish(id);
        }
    }

    /// exchange_finalize: the SA takes the exchange's name and the ready
    /// flag; older ready SAs of that name and phase are marked replaced
    /// (exchange_check_old_sa); a name on the active list adds STAYALIVE.
    /// Then the finalizations run: a phase 1 goes on with the phase 2
    /// exchanges waiting for it (exchange_establish_finalize).
    fn finish(&mut self, id: usize) {
        let Some(i) = self.exchanges.iter().position(|e| e.id == id) else {
            return;
        };
        let e = self.exchanges.remove(i);
        self.check_policy(&e);
        let stayalive = self
            .active
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&e.name));
        for old in self.sas.iter_mut() {
            let same = old.phase == e.phase
                && old.id != e.sa
                && old.flags & SA_FLAG_READY != 0
                && old
                    .name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&e.name));
            if same {
                old.flags |= SA_FLAG_REPLACED;
            }
        }
        // a connection's phase 2 keeps its ISAKMP SA alive too
        if stayalive && e.phase == 2 {
            let isakmp_peer = self.conf(&e.name, "ISAKMP-peer").unwrap_or_default();
            let p1 = self.sa_lookup_by_name(&isakmp_peer, 1);
            if let Some(sa) = self.sas.iter_mut().find(|s| Some(s.id) == p1) {
                sa.flags |= SA_FLAG_STAYALIVE;
            }
        }
        let peer = e.peer.clone();
        if let Some(sa) = self.sas.iter_mut().find(|s| s.id == e.sa) {
            sa.name = Some(e.name.clone());
            sa.flags |= SA_FLAG_READY;
            if stayalive {
                sa.flags |= SA_FLAG_STAYALIVE;
            }
            // sa_isakmp_upgrade: the reply installs the transport
            sa.peer.get_or_insert((peer, ISAKMP_PORT));
        }
        self.say(format!("exchange {} phase {} done", e.name, e.phase));
        for conn in e.then_establish {
            self.exchange_establish(&conn);
        }
    }

    /// exchange->policy was taken from the config store when the exchange
    /// was made (exchange_establish_p1/p2, exchange_setup_p1) and is used
    /// while it processes messages; if that binding was removed or replaced
    /// since, the string it points at is freed.
    fn check_policy(&mut self, e: &Exchange) {
        let Some((section, value)) = &e.policy else {
            return;
        };
        if self.conf(section, "Configuration").as_ref() != Some(value) {
            self.hazards.push(format!(
                "{}s: exchange {} (phase {}) processed an answer with exchange->policy \
                 pointing at freed [{section}]:Configuration",
                self.now, e.name, e.phase
            ));
        }
    }

    /// exchange_free_aux at max time: the exchange goes, with the SAs it
    /// never finished (sa_free); the finalizations are told it failed.
    fn exchange_free(&mut self, id: usize) {
        let Some(i) = self.exchanges.iter().position(|e| e.id == id) else {
            return;
        };
        let e = self.exchanges.remove(i);
        self.say(format!(
            "exchange {} phase {} freed at max time",
            e.name, e.phase
        ));
        self.sas.retain(|s| s.id != e.sa);
    }

    /// The peer starts phase 1 (exchange_setup_p1): the exchange is named
    /// from `[Phase 1]:<address>`, else `[Phase 1]:Default`; none is made
    /// while one of that name is past its first step. The SA gets that
    /// name when it finishes.
    pub fn peer_initiates_phase1(&mut self, address: &str) {
        let name = self
            .conf("Phase 1", address)
            .or_else(|| self.conf("Phase 1", "Default"));
        let Some(name) = name else {
            self.say("exchange_setup_p1: no \"Default\" tag in [Phase 1] section".into());
            return;
        };
        if self.exchange_lookup_by_name(&name, 1).is_some() {
            return;
        }
        let sa = self.sa_create(1, false, Some((address.to_string(), ISAKMP_PORT)));
        let max = self.conf_num("General", "Exchange-max-time", EXCHANGE_MAX_TIME);
        let id = self.next_id;
        self.next_id += 1;
        let policy = self.conf(&name, "Configuration").map(|v| (name.clone(), v));
        self.exchanges.push(Exchange {
            id,
            name,
            phase: 1,
            initiator: false,
            peer: address.to_string(),
            policy,
            xmits: 0,
            retransmit_at: None,
            dies_at: self.now + max,
            sa,
            then_establish: Vec::new(),
        });
        if self.behaviour(address) != Peer::Silent {
            self.finish(id);
        }
    }

    /// The peer starts phase 2 for `connection`: isakmpd answers only for
    /// a connection on its passive list (connection_passive_lookup_by_ids
    /// matches the IDs, which the connection's name is made of).
    pub fn peer_initiates_phase2(&mut self, address: &str, connection: &str) -> bool {
        if !self
            .passive
            .iter()
            .any(|p| p.eq_ignore_ascii_case(connection))
        {
            self.say(format!(
                "no passive connection for {connection} from {address}"
            ));
            return false;
        }
        let sa = self.sa_create(2, false, Some((address.to_string(), ISAKMP_PORT)));
        let id = self.next_id;
        self.next_id += 1;
        self.exchanges.push(Exchange {
            id,
            name: connection.to_string(),
            phase: 2,
            initiator: false,
            peer: address.to_string(),
            policy: None,
            xmits: 0,
            retransmit_at: None,
            dies_at: self.now + EXCHANGE_MAX_TIME,
            sa,
            then_establish: Vec::new(),
        });
        self.finish(id);
        true
    }

    /// A rekey (sa_soft_expire of a STAYALIVE SA): exchange_establish of
    /// its name; until it finishes, the new SA is `<unnamed>`.
    pub fn rekey(&mut self, name: &str) {
        self.exchange_establish(name);
    }

    // ---- time ---------------------------------------------------------------

    /// Moves the virtual clock `secs` ahead, running every timer that falls
    /// due, in time order (timer.c).
    pub fn advance(&mut self, secs: u64) {
        let end = self.now + secs;
        while let Some(at) = self.next_timer().filter(|t| *t <= end) {
            self.now = at;
            self.run_timers_at(at);
        }
        self.now = end;
    }

    fn next_timer(&self) -> Option<u64> {
        let checks = self.active.iter().map(|c| c.check_at);
        let sends = self.exchanges.iter().filter_map(|e| e.retransmit_at);
        let deaths = self.exchanges.iter().map(|e| e.dies_at);
        checks
            .chain(sends)
            .chain(deaths)
            .chain(self.reinit_at)
            .min()
    }

    fn run_timers_at(&mut self, at: u64) {
        if self.reinit_at == Some(at) {
            self.reinit_at = None;
            self.connection_reinit();
        }
        let dying: Vec<usize> = self
            .exchanges
            .iter()
            .filter(|e| e.dies_at == at)
            .map(|e| e.id)
            .collect();
        for id in dying {
            self.exchange_free(id);
        }
        let resend: Vec<usize> = self
            .exchanges
            .iter()
            .filter(|e| e.retransmit_at == Some(at))
            .map(|e| e.id)
            .collect();
        for id in resend {
            self.send(id);
        }
        let due: Vec<String> = self
            .active
            .iter()
            .filter(|c| c.check_at == at)
            .map(|c| c.name.clone())
            .collect();
        for name in due {
            self.connection_checker(&name);
        }
    }

    // ---- what a test looks at ---------------------------------------------------

    pub fn is_active(&self, name: &str) -> bool {
        self.active
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn is_passive(&self, name: &str) -> bool {
        self.passive.iter().any(|p| p.eq_ignore_ascii_case(name))
    }

    /// A ready, not replaced SA of that name and phase: the tunnel is up.
    pub fn up(&self, name: &str, phase: u8) -> bool {
        self.sas.iter().any(|s| {
            s.phase == phase
                && s.flags & SA_FLAG_READY != 0
                && s.flags & SA_FLAG_REPLACED == 0
                && s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Exchanges in flight with the peer at `address`.
    pub fn negotiating_with(&self, address: &str) -> usize {
        self.exchanges.iter().filter(|e| e.peer == address).count()
    }

    /// The `S` result in sa.c sa_dump_all's format: name and phase (with
    /// the role for phase 1), the transport's `src: A dst: B` (udp.c
    /// udp_decode_ids) or `<no transport>`, `Flags 0x%08x`, the phase's own
    /// lines, and a blank line after each SA.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for sa in &self.sas {
            let role = match (sa.phase, sa.initiator) {
                (1, true) => "/Initiator",
                (1, false) => "/Responder",
                _ => "",
            };
            out.push_str(&format!(
                "SA name: {} (Phase {}{role})\n",
                sa.name.as_deref().unwrap_or("<unnamed>"),
                sa.phase
            ));
            match &sa.peer {
                Some((address, _)) => out.push_str(&format!("src: 192.0.2.254 dst: {address}\n")),
                None => out.push_str("<no transport>\n"),
            }
            out.push_str(&format!("Flags 0x{:08x}\n", sa.flags));
            if sa.phase == 1 {
                out.push_str(&format!(
                    "icookie {:016x} rcookie {:016x}\n",
                    sa.id,
                    if sa.flags & SA_FLAG_READY != 0 {
                        sa.id
                    } else {
                        0
                    }
                ));
            } else {
                out.push_str("SPI 0 not defined.\nSPI 1 not defined.\n");
            }
            out.push('\n');
        }
        out
    }
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

/// Runs `lines` through isakmpd-conf on top of `config` (loaded with
/// `--init`, as an isakmpd.conf file); returns the new dump and events.
fn run_batch<S: AsRef<str>>(config: &Dump, lines: &[S]) -> Dump {
    let dir = tempfile::tempdir().unwrap();
    let init: PathBuf = dir.path().join("isakmpd.conf");
    super::write_private(&init, &as_conf_file(config));
    isakmpd::replay_with_init(&init, lines)
}

/// The dump as an isakmpd.conf file (conf.c conf_parse reads it back):
/// `[section]` headers and `tag=value` lines.
fn as_conf_file(config: &Dump) -> String {
    let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in &config.lines {
        let Some(end) = line.find("]:") else { continue };
        let section = line[1..end].to_string();
        if !sections.contains_key(&section) {
            order.push(section.clone());
        }
        sections
            .entry(section)
            .or_default()
            .push(line[end + 2..].to_string());
    }
    let mut out = String::new();
    for section in order {
        out.push_str(&format!("[{section}]\n"));
        for binding in &sections[&section] {
            out.push_str(binding);
            out.push('\n');
        }
    }
    out
}
