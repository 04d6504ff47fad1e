//! Routing one parsed request to the backend and shaping its answer.

use super::action::{check_symbol, ActionError, AdminAction, FundsRequest, InstrumentRequest};
use super::auth::{self, AuthError};
use super::candle::{Interval, CANDLES_KEPT};
use super::market::{status_name, MarketView, TRADES_KEPT};
use super::request::Request;
use super::response::Response;
use super::{prometheus, AdminBackend};
use crossline_engine::InstrumentId;
use serde_json::json;
use std::time::Duration;

const DEFAULT_LEVELS: usize = 10;
const MAX_LEVELS: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

/// How long a status change waits for the read side to learn a symbol it does not know yet (an instrument
/// added an instant ago), while the follower is behind the engine.
const RESOLVE_WAIT: Duration = Duration::from_millis(250);

pub fn handle(request: &Request, token: &str, backend: &dyn AdminBackend) -> Response {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();
    let get = method == "GET";
    let post = method == "POST";
    match segments.as_slice() {
        ["health"] if get => health(backend),
        ["metrics"] if get => {
            let health = backend.health();
            let mut text = prometheus::render(backend.metrics(), Some(&health));
            backend.extra_metrics(&mut text);
            Response::text(200, prometheus::CONTENT_TYPE, text)
        }
        ["instruments"] if get => instruments(backend),
        ["book", symbol] if get => book(request, backend, symbol),
        ["trades", symbol] if get => trades(request, backend, symbol),
        ["candles", symbol] if get => candles(request, backend, symbol),
        ["admin", "halt", symbol] if post => admin(request, token, backend, |_| {
            Ok(AdminAction::Halt {
                symbol: symbol.to_string(),
            })
        }),
        ["admin", "resume", symbol] if post => admin(request, token, backend, |_| {
            Ok(AdminAction::Resume {
                symbol: symbol.to_string(),
            })
        }),
        ["admin", "cancel-only", symbol] if post => admin(request, token, backend, |_| {
            Ok(AdminAction::CancelOnly {
                symbol: symbol.to_string(),
            })
        }),
        ["admin", "instruments"] if post => admin(request, token, backend, |body| {
            json_body::<InstrumentRequest>(body).map(AdminAction::AddInstrument)
        }),
        ["admin", "deposit"] if post => admin(request, token, backend, |body| {
            json_body::<FundsRequest>(body).map(|f| AdminAction::Deposit {
                account: f.account,
                asset: f.asset,
                amount: f.amount,
            })
        }),
        ["admin", "withdraw"] if post => admin(request, token, backend, |body| {
            json_body::<FundsRequest>(body).map(|f| AdminAction::Withdraw {
                account: f.account,
                asset: f.asset,
                amount: f.amount,
            })
        }),
        ["health" | "metrics" | "instruments"] | ["book" | "trades" | "candles", _] => {
            Response::error(405, &format!("{method} not allowed here")).with_header("Allow", "GET")
        }
        ["admin", "halt" | "resume" | "cancel-only", _]
        | ["admin", "instruments" | "deposit" | "withdraw"] => {
            Response::error(405, &format!("{method} not allowed here")).with_header("Allow", "POST")
        }
        _ => Response::error(404, "no such route"),
    }
}

fn health(backend: &dyn AdminBackend) -> Response {
    let h = backend.health();
    Response::json(
        200,
        &json!({
            "status": "ok",
            "role": h.role,
            "applied_seq": h.applied_seq,
            "engine_seq": h.engine_seq,
            "lag": h.lag(),
            "state_hash": format!("{:016x}", h.state_hash),
            "journal": { "written_seq": h.journal_written_seq, "durable_seq": h.journal_durable_seq },
            "sessions_logged_in": h.sessions_logged_in,
            "cluster": h.cluster,
            "invariants": h.invariant_violation.as_deref().unwrap_or("ok"),
            "query": h.query,
        }),
    )
}

/// Runs `f` on the market view; 503 if the backend could not give it.
fn read_market<T>(
    backend: &dyn AdminBackend,
    mut f: impl FnMut(&MarketView) -> T,
) -> Result<T, Response> {
    let mut out = None;
    backend.with_market(&mut |market| out = Some(f(market)));
    out.ok_or_else(|| Response::error(503, "the market view is unavailable"))
}

fn instruments(backend: &dyn AdminBackend) -> Response {
    let list = read_market(backend, |market| {
        market
            .instruments()
            .map(|m| {
                json!({
                    "id": m.id,
                    "symbol": m.symbol,
                    "status": status_name(m.status),
                    "last_price": m.last_price,
                })
            })
            .collect::<Vec<_>>()
    });
    match list {
        Ok(list) => Response::json(200, &json!({ "instruments": list })),
        Err(response) => response,
    }
}

/// `?name=N`, at most `max`; `default` when absent.
fn count_param(
    request: &Request,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, Response> {
    match request.query(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(max))
            .map_err(|_| {
                Response::error(
                    400,
                    &format!("{name}={text:?}: expected a non-negative integer"),
                )
            }),
    }
}

fn unknown_symbol(symbol: &str) -> Response {
    Response::error(404, &format!("unknown symbol {symbol:?}"))
}

fn book(request: &Request, backend: &dyn AdminBackend, symbol: &str) -> Response {
    let levels = match count_param(request, "levels", DEFAULT_LEVELS, MAX_LEVELS) {
        Ok(levels) => levels,
        Err(response) => return response,
    };
    let found = match read_market(backend, |m| {
        m.by_symbol(symbol).map(|i| (i.id, status_name(i.status)))
    }) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some((instrument, status)) = found else {
        return unknown_symbol(symbol);
    };
    let Some(mut view) = backend.book(instrument, levels) else {
        return unknown_symbol(symbol);
    };
    view.bids.truncate(levels);
    view.asks.truncate(levels);
    Response::json(
        200,
        &json!({
            "symbol": symbol,
            "instrument": instrument,
            "status": status,
            "seq": view.seq,
            "bids": view.bids,
            "asks": view.asks,
        }),
    )
}

fn trades(request: &Request, backend: &dyn AdminBackend, symbol: &str) -> Response {
    let limit = match count_param(request, "limit", DEFAULT_LIMIT, TRADES_KEPT) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let found = read_market(backend, |market| {
        market.by_symbol(symbol).map(|m| {
            let trades: Vec<_> = m.recent_trades(limit).copied().collect();
            json!({ "symbol": symbol, "instrument": m.id, "trades": trades })
        })
    });
    match found {
        Ok(Some(body)) => Response::json(200, &body),
        Ok(None) => unknown_symbol(symbol),
        Err(response) => response,
    }
}

fn candles(request: &Request, backend: &dyn AdminBackend, symbol: &str) -> Response {
    let limit = match count_param(request, "limit", DEFAULT_LIMIT, CANDLES_KEPT) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let name = request.query("interval").unwrap_or("1m");
    let Some(interval) = Interval::parse(name) else {
        return Response::error(
            400,
            &format!("interval={name:?}: expected one of 1m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w 1M"),
        );
    };
    let found = read_market(backend, |market| {
        market.by_symbol(symbol).map(|m| {
            json!({
                "symbol": symbol,
                "instrument": m.id,
                "interval": interval.name(),
                "candles": m.candles(interval, limit),
            })
        })
    });
    match found {
        Ok(Some(body)) => Response::json(200, &body),
        Ok(None) => unknown_symbol(symbol),
        Err(response) => response,
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Response::error(400, "expected a JSON body"));
    }
    serde_json::from_slice(body)
        .map_err(|error| Response::error(400, &format!("bad JSON body: {error}")))
}

/// Authenticates, builds the action from the body, resolves its symbol, submits its command.
fn admin(
    request: &Request,
    token: &str,
    backend: &dyn AdminBackend,
    action: impl FnOnce(&[u8]) -> Result<AdminAction, Response>,
) -> Response {
    match auth::check(token, request.header("authorization")) {
        Ok(()) => {}
        Err(AuthError::Disabled) => {
            return Response::error(
                403,
                "no admin token is configured: state changes are disabled",
            )
        }
        Err(AuthError::Unauthorized) => {
            return Response::error(
                401,
                "missing or wrong admin token (Authorization: Bearer <token>)",
            )
            .with_header("WWW-Authenticate", "Bearer")
        }
    }
    let action = match action(&request.body) {
        Ok(action) => action,
        Err(response) => return response,
    };
    let instrument = match action.symbol() {
        None => None,
        Some(symbol) => {
            if let Err(reason) = check_symbol(symbol) {
                return Response::error(400, &reason);
            }
            match resolve(backend, symbol) {
                Ok(Some(id)) => Some(id),
                Ok(None) => return unknown_symbol(symbol),
                Err(response) => return response,
            }
        }
    };
    let command = match action.to_command(|_| instrument) {
        Ok(command) => command,
        Err(ActionError::UnknownSymbol(symbol)) => return unknown_symbol(&symbol),
        Err(ActionError::Invalid(reason)) => return Response::error(400, &reason),
    };
    match backend.submit(command) {
        Ok(outcome) => match outcome.rejected {
            None => Response::json(200, &json!({ "seq": outcome.seq, "applied": true })),
            Some(reason) => Response::json(409, &json!({ "seq": outcome.seq, "rejected": reason })),
        },
        Err(error) => Response::error(503, &error.to_string()),
    }
}

/// The symbol's instrument; waits a little for the read side when it is behind the engine.
fn resolve(backend: &dyn AdminBackend, symbol: &str) -> Result<Option<InstrumentId>, Response> {
    let started = std::time::Instant::now();
    loop {
        if let Some(id) = read_market(backend, |market| market.instrument_id(symbol))? {
            return Ok(Some(id));
        }
        if backend.health().lag() == 0 || started.elapsed() >= RESOLVE_WAIT {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
