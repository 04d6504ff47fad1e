//! Balance changes per command. The engine reports a balance only when a deposit or a withdrawal changes it;
//! reservations, releases, settlements and fees change balances silently. So the learner keeps a copy of every
//! balance and, after each command, compares the accounts the command touched (those its body and events name, and
//! the fee account when something traded) with the engine's: each difference is one change, with the balance
//! after the command.

use crossline_engine::{Balance, Command, CommandBody, Engine, Event};

/// One balance after a command changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceChange {
    pub account: u32,
    pub asset: u32,
    pub balance: Balance,
}

#[derive(Debug)]
pub struct BalanceTracker {
    /// `max_assets` entries per account, as the engine lays them out.
    known: Vec<Balance>,
    max_accounts: u32,
    max_assets: u32,
    fee_account: u32,
    touched: Vec<u32>,
}

impl BalanceTracker {
    /// Starts from the engine's balances as they are.
    pub fn new(engine: &Engine) -> BalanceTracker {
        let config = engine.config();
        let mut known =
            Vec::with_capacity(config.max_accounts as usize * config.max_assets as usize);
        for account in 0..config.max_accounts {
            known.extend(engine.all_balances(account));
        }
        BalanceTracker {
            known,
            max_accounts: config.max_accounts,
            max_assets: config.max_assets,
            fee_account: config.fee_account,
            touched: Vec::with_capacity(64),
        }
    }

    fn touch(&mut self, account: u32) {
        if account < self.max_accounts && !self.touched.contains(&account) {
            self.touched.push(account);
        }
    }

    /// The balances `command` changed, in (account, asset) order, after `engine` applied it and said `events`.
    pub fn changes(
        &mut self,
        engine: &Engine,
        command: &Command,
        events: &[Event],
        out: &mut Vec<BalanceChange>,
    ) {
        out.clear();
        self.touched.clear();
        match command.body {
            CommandBody::Deposit { account, .. } | CommandBody::Withdraw { account, .. } => {
                self.touch(account)
            }
            CommandBody::NewOrder(order) => self.touch(order.account),
            CommandBody::Cancel { account, .. }
            | CommandBody::Modify { account, .. }
            | CommandBody::CancelTo { account, .. } => self.touch(account),
            CommandBody::Replace(replace) => self.touch(replace.account),
            CommandBody::Quote(quote) => self.touch(quote.account),
            CommandBody::MassCancel(mass) => {
                if let Some(account) = mass.account {
                    self.touch(account);
                }
            }
            _ => {}
        }
        for event in events {
            match *event {
                Event::Executed { account, .. } => {
                    self.touch(account);
                    self.touch(self.fee_account);
                }
                Event::Accepted { account, .. }
                | Event::Canceled { account, .. }
                | Event::SelfTradeCanceled { account, .. }
                | Event::Replaced { account, .. }
                | Event::Modified { account, .. }
                | Event::QuoteStatus { account, .. }
                | Event::BalanceChanged { account, .. } => self.touch(account),
                _ => {}
            }
        }
        self.touched.sort_unstable();
        for &account in &self.touched {
            let start = account as usize * self.max_assets as usize;
            let now = engine.all_balances(account);
            for (asset, (known, now)) in self.known[start..start + self.max_assets as usize]
                .iter_mut()
                .zip(now)
                .enumerate()
            {
                if *known != now {
                    *known = now;
                    out.push(BalanceChange {
                        account,
                        asset: asset as u32,
                        balance: now,
                    });
                }
            }
        }
    }
}
