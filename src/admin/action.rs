//! Operator actions and their engine commands.

use crossline_engine::{
    AccountId, AssetId, CommandBody, InstrumentId, InstrumentSpec, InstrumentStatus,
};
use serde::Deserialize;

/// An instrument to add: the same fields as the appliance configuration's `[[instruments]]`.
pub type InstrumentRequest = crate::config::InstrumentConfig;

/// Checks that `text` can be a wire symbol: 1 to 8 printable ASCII characters without spaces.
pub fn check_symbol(text: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > 8 {
        return Err(format!("symbol {text:?}: must be 1 to 8 characters"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "symbol {text:?}: only printable ASCII without spaces"
        ));
    }
    Ok(())
}

/// The engine's spec for an instrument request; the engine itself checks the values (a bad one is rejected with
/// a reason).
pub fn instrument_spec(request: &InstrumentRequest) -> Result<InstrumentSpec, String> {
    check_symbol(&request.symbol)?;
    Ok(crate::config::instrument_spec(request))
}

/// A body of POST /admin/deposit and /admin/withdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundsRequest {
    pub account: AccountId,
    pub asset: AssetId,
    pub amount: u64,
}

/// What an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    Halt {
        symbol: String,
    },
    Resume {
        symbol: String,
    },
    CancelOnly {
        symbol: String,
    },
    AddInstrument(InstrumentRequest),
    Deposit {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
    Withdraw {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
}

/// Why an action could not become a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    UnknownSymbol(String),
    Invalid(String),
}

impl AdminAction {
    /// The engine command, with `resolve` mapping a symbol to its instrument.
    pub fn to_command(
        &self,
        resolve: impl Fn(&str) -> Option<InstrumentId>,
    ) -> Result<CommandBody, ActionError> {
        let status = |symbol: &str, status| {
            let instrument =
                resolve(symbol).ok_or_else(|| ActionError::UnknownSymbol(symbol.to_string()))?;
            Ok(CommandBody::SetInstrumentStatus { instrument, status })
        };
        match self {
            AdminAction::Halt { symbol } => status(symbol, InstrumentStatus::Halted),
            AdminAction::Resume { symbol } => status(symbol, InstrumentStatus::Trading),
            AdminAction::CancelOnly { symbol } => status(symbol, InstrumentStatus::CancelOnly),
            AdminAction::AddInstrument(request) => instrument_spec(request)
                .map(CommandBody::AddInstrument)
                .map_err(ActionError::Invalid),
            &AdminAction::Deposit {
                account,
                asset,
                amount,
            } => Ok(CommandBody::Deposit {
                account,
                asset,
                amount,
            }),
            &AdminAction::Withdraw {
                account,
                asset,
                amount,
            } => Ok(CommandBody::Withdraw {
                account,
                asset,
                amount,
            }),
        }
    }

    /// The symbol the action names, if any.
    pub fn symbol(&self) -> Option<&str> {
        match self {
            AdminAction::Halt { symbol }
            | AdminAction::Resume { symbol }
            | AdminAction::CancelOnly { symbol } => Some(symbol),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Option<InstrumentId> {
        (text == "BTCUSD").then_some(3)
    }

    #[test]
    fn status_changes_resolve_symbols() {
        let halt = AdminAction::Halt {
            symbol: "BTCUSD".into(),
        };
        assert_eq!(
            halt.to_command(resolve),
            Ok(CommandBody::SetInstrumentStatus {
                instrument: 3,
                status: InstrumentStatus::Halted
            })
        );
        let resume = AdminAction::Resume {
            symbol: "BTCUSD".into(),
        };
        assert!(matches!(
            resume.to_command(resolve),
            Ok(CommandBody::SetInstrumentStatus {
                status: InstrumentStatus::Trading,
                ..
            })
        ));
        let unknown = AdminAction::CancelOnly {
            symbol: "NOPE".into(),
        };
        assert_eq!(
            unknown.to_command(resolve),
            Err(ActionError::UnknownSymbol("NOPE".into()))
        );
    }

    #[test]
    fn instruments_convert_and_check_symbols() {
        let json = r#"{"id": 9, "symbol": "ETHUSD", "base_asset": 3, "quote_asset": 2, "tick": 1,
            "lot_size": 1, "quote_per_price_lot": 1, "reference_price": 30000000, "band_bps": 1000,
            "breaker_window_ms": 5}"#;
        let request: InstrumentRequest = serde_json::from_str(json).expect("parses");
        let command = AdminAction::AddInstrument(request.clone()).to_command(resolve);
        let Ok(CommandBody::AddInstrument(spec)) = command else {
            panic!("{command:?}");
        };
        assert_eq!(spec.instrument, 9);
        assert_eq!(spec.symbol, crossline_engine::symbol("ETHUSD"));
        assert_eq!(spec.breaker_window_ns, 5_000_000);
        assert_eq!(spec.breaker_move_bps, 0);
        for bad in ["", "NINECHARS", "A B", "É"] {
            let mut r = request.clone();
            r.symbol = bad.into();
            assert!(matches!(
                AdminAction::AddInstrument(r).to_command(resolve),
                Err(ActionError::Invalid(_))
            ));
        }
        assert!(serde_json::from_str::<InstrumentRequest>(r#"{"id": 1}"#).is_err());
        let extra = json.replace("\"tick\": 1", "\"tick\": 1, \"bogus\": 2");
        assert!(serde_json::from_str::<InstrumentRequest>(&extra).is_err());
    }

    #[test]
    fn funds() {
        let deposit = AdminAction::Deposit {
            account: 1,
            asset: 2,
            amount: 3,
        };
        assert_eq!(
            deposit.to_command(resolve),
            Ok(CommandBody::Deposit {
                account: 1,
                asset: 2,
                amount: 3
            })
        );
        assert!(
            serde_json::from_str::<FundsRequest>(r#"{"account":1,"asset":2,"amount":-1}"#).is_err()
        );
    }
}
