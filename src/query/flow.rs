//! A seeded random flow on the embedded configuration's instruments and accounts, written to a journal: resting
//! and aggressive orders (limit, market, IOC, FOK, GTT, iceberg, post-only), cancels, replaces, modifications,
//! quotes, deposits and withdrawals (some refused), halts and resumes, fee-tier changes, mass cancels and the end
//! of the day. The query side's tests and its benchmark replay it; the same seed gives the same journal.

use crate::config::{genesis_commands, Config};
use crossline_engine::{
    AccountSpec, Command, CommandBody, InstrumentStatus, MassCancel, MassCancelReason, NewOrder,
    OrderType, Quote, Replace, Side, StpMode, TimeInForce,
};
use crossline_journal::{FsyncPolicy, JournalConfig, JournalWriter};
use std::path::Path;

/// 2026-01-01T00:00:00Z: the flow's first command time.
pub const FLOW_START_NS: u64 = 1_767_225_600_000_000_000;
/// Command time advances this much per command.
pub const FLOW_STEP_NS: u64 = 1_000_000;
const REFS_KEPT: usize = 64;
const JOURNAL_SEGMENT_BYTES: u64 = 64 << 20;

/// (instrument, reference price, tick) of the embedded configuration's instruments.
const INSTRUMENTS: [(u32, i64, i64); 2] = [(1, 1_000_000, 100), (2, 250_000, 50)];

pub struct Flow {
    state: u64,
    /// (session, account) of the embedded configuration's users.
    sessions: Vec<(u32, u32)>,
    next_ref: Vec<u32>,
    live_refs: Vec<Vec<u32>>,
    halted: [bool; 2],
}

impl Flow {
    pub fn new(config: &Config, seed: u64) -> Flow {
        let sessions: Vec<(u32, u32)> = config
            .users
            .iter()
            .enumerate()
            .map(|(index, user)| (Config::session_of_user(index), user.account))
            .collect();
        let count = sessions.len();
        Flow {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            sessions,
            next_ref: vec![1; count],
            live_refs: vec![Vec::new(); count],
            halted: [false; 2],
        }
    }

    fn random(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.random() % n.max(1)
    }

    fn new_ref(&mut self, who: usize) -> u32 {
        let user_ref = self.next_ref[who];
        self.next_ref[who] += 1;
        let refs = &mut self.live_refs[who];
        if refs.len() >= REFS_KEPT {
            refs.remove(0);
        }
        refs.push(user_ref);
        user_ref
    }

    fn some_ref(&mut self, who: usize) -> u32 {
        let len = self.live_refs[who].len() as u64;
        if len == 0 {
            return 1;
        }
        let index = self.below(len) as usize;
        self.live_refs[who][index]
    }

    /// The next command body; `now_ns` is its command time (for GTT expiries).
    pub fn next(&mut self, now_ns: u64) -> CommandBody {
        if self.sessions.is_empty() {
            return CommandBody::Tick;
        }
        let who = self.below(self.sessions.len() as u64) as usize;
        let (session, account) = self.sessions[who];
        let which = self.below(2) as usize;
        let (instrument, reference, tick) = INSTRUMENTS[which];
        let buy = self.below(2) == 0;
        let side = if buy { Side::Buy } else { Side::Sell };
        let roll = self.below(1000);
        if self.halted[which] && roll < 300 {
            self.halted[which] = false;
            return CommandBody::SetInstrumentStatus {
                instrument,
                status: InstrumentStatus::Trading,
            };
        }
        match roll {
            0..=479 => {
                let ticks = 1 + self.below(15) as i64;
                let price = if buy {
                    reference - ticks * tick
                } else {
                    reference + ticks * tick
                };
                let kind = self.below(20);
                let time_in_force = match kind {
                    0..=9 => TimeInForce::Day,
                    10..=16 => TimeInForce::Gtc,
                    _ => TimeInForce::Gtt,
                };
                let qty = 1 + self.below(40);
                let user_ref = self.new_ref(who);
                CommandBody::NewOrder(NewOrder {
                    session,
                    account,
                    user_ref,
                    instrument,
                    side,
                    order_type: OrderType::Limit,
                    time_in_force,
                    price,
                    qty,
                    min_qty: 0,
                    display_qty: if kind == 3 { qty.div_ceil(4) } else { 0 },
                    post_only: kind == 4,
                    expire_time_ns: if time_in_force == TimeInForce::Gtt {
                        now_ns + (1 + self.below(500)) * FLOW_STEP_NS
                    } else {
                        0
                    },
                    group: (kind % 3) as u16,
                })
            }
            480..=599 => {
                let qty = 1 + self.below(60);
                let market = self.below(4) == 0;
                let fok = self.below(5) == 0;
                let price = if buy {
                    reference + 10 * tick
                } else {
                    reference - 10 * tick
                };
                let user_ref = self.new_ref(who);
                CommandBody::NewOrder(NewOrder {
                    session,
                    account,
                    user_ref,
                    instrument,
                    side,
                    order_type: if market {
                        OrderType::Market
                    } else {
                        OrderType::Limit
                    },
                    time_in_force: TimeInForce::Ioc,
                    price,
                    qty,
                    min_qty: if fok { qty } else { 0 },
                    display_qty: 0,
                    post_only: false,
                    expire_time_ns: 0,
                    group: 0,
                })
            }
            600..=739 => CommandBody::Cancel {
                session,
                account,
                user_ref: self.some_ref(who),
            },
            740..=789 => {
                let user_ref = self.some_ref(who);
                let new_user_ref = self.new_ref(who);
                let ticks = 1 + self.below(15) as i64;
                CommandBody::Replace(Replace {
                    session,
                    account,
                    user_ref,
                    new_user_ref,
                    price: if buy {
                        reference - ticks * tick
                    } else {
                        reference + ticks * tick
                    },
                    qty: 1 + self.below(40),
                })
            }
            790..=819 => CommandBody::Modify {
                session,
                account,
                user_ref: self.some_ref(who),
                qty: self.below(10),
            },
            820..=839 => CommandBody::CancelTo {
                session,
                account,
                user_ref: self.some_ref(who),
                qty: self.below(10),
            },
            840..=899 => {
                let spread = 1 + self.below(5) as i64;
                let user_ref = self.new_ref(who);
                CommandBody::Quote(Quote {
                    session,
                    account,
                    user_ref,
                    instrument,
                    bid_price: reference - spread * tick,
                    bid_qty: self.below(30),
                    ask_price: reference + spread * tick,
                    ask_qty: self.below(30),
                })
            }
            900..=929 => CommandBody::Deposit {
                account,
                asset: self.below(3) as u32,
                amount: 1 + self.below(1_000_000),
            },
            930..=949 => CommandBody::Withdraw {
                account,
                asset: self.below(3) as u32,
                // Now and then more than the account holds: refused.
                amount: if self.below(10) == 0 {
                    u64::MAX / 2
                } else {
                    1 + self.below(100_000)
                },
            },
            950..=959 => {
                self.halted[which] = true;
                CommandBody::SetInstrumentStatus {
                    instrument,
                    status: if self.below(2) == 0 {
                        InstrumentStatus::Halted
                    } else {
                        InstrumentStatus::CancelOnly
                    },
                }
            }
            960..=969 => CommandBody::SetAccount(AccountSpec {
                account,
                fee_tier: self.below(2) as u32,
                stp_group: 0,
                stp_mode: StpMode::CancelResting,
                max_order_qty: 1_000_000,
                max_order_notional: 100_000_000_000_000,
                max_open_orders: 100_000,
                order_entry_enabled: true,
            }),
            970..=974 => CommandBody::MassCancel(MassCancel {
                session,
                user_ref: self.new_ref(who),
                reason: MassCancelReason::UserRequested,
                account: Some(account),
                only_session: None,
                instrument: Some(instrument),
                side: None,
                group: None,
            }),
            975 => CommandBody::EndOfDay,
            _ => CommandBody::Tick,
        }
    }
}

/// Writes the configuration's genesis commands and then `commands` commands of the seeded flow to a new journal
/// in `dir`; returns the last sequence number.
pub fn write_journal(dir: &Path, config: &Config, commands: u64, seed: u64) -> anyhow::Result<u64> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (mut writer, _) = JournalWriter::open(
        dir,
        JournalConfig {
            segment_bytes: JOURNAL_SEGMENT_BYTES,
            fsync: FsyncPolicy::None,
            first_seq: 1,
            ..JournalConfig::default()
        },
    )
    .with_context(|| format!("opening a journal in {}", dir.display()))?;
    let mut seq = writer.next_seq();
    let mut flow = Flow::new(config, seed);
    let genesis = genesis_commands(config);
    let total = genesis.len() as u64 + commands;
    for i in 0..total {
        let timestamp_ns = FLOW_START_NS + seq * FLOW_STEP_NS;
        let body = match genesis.get(i as usize) {
            Some(body) => *body,
            None => flow.next(timestamp_ns),
        };
        writer
            .append(&Command {
                seq,
                timestamp_ns,
                body,
            })
            .with_context(|| format!("appending seq {seq}"))?;
        if seq % 256 == 0 {
            writer.commit_batch().context("committing a batch")?;
        }
        seq += 1;
    }
    writer.commit_batch().context("committing a batch")?;
    writer.close().context("closing the journal")?;
    Ok(seq - 1)
}
