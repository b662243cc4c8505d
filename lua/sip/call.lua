--- sip.call: calls of a UA, the INVITE dialogs of RFC 3261 §12-15 with RFC 3262 (PRACK),
-- RFC 3311 (UPDATE) and the offer/answer model of RFC 3264 (sip.sdp).
--
-- Outgoing: ua:dial(target, opts) sends the INVITE and returns the call at once; ua:call() also
-- waits for the answer. Provisional responses make early dialogs (one per To tag) and are
-- acknowledged with PRACK when sent reliably; the UA core ACKs every 2xx (§13.2.2.4), again for
-- each retransmission, and ACKs then BYEs the 2xx of any fork but the first. Incoming: the UA's
-- "call" handler gets the call and rings, answers or rejects it; the 2xx goes out again until its
-- ACK arrives (§13.3.1.4), and a call without ACK after 64*T1 ends with BYE.
--
-- The transaction callbacks never yield: what has to wait (PRACK, BYE of a fork, handlers) runs
-- in a coroutine of its own.
--
-- The class (sip.call, this module's Call) is one metatable, its methods in one file per job:
--   sip.call_common   the metatable and what the others share: helpers, waiting and events,
--                     ending, sending within the dialog
--   sip.call_uac      outgoing calls (dial, call, the INVITE client side, PRACK, ACK)
--   sip.call_uas      incoming calls (ring, answer, reject, reliable 1xx, ACK, CANCEL)
--   sip.call_dialog   requests within the dialog, dispatched by method
--   sip.call_session  changing and ending the session (re-INVITE, hold, UPDATE, BYE)
-- @module sip.call
local common = require "sip.call_common"
local uac = require "sip.call_uac"
local uas = require "sip.call_uas"
require "sip.call_dialog"
require "sip.call_session"

return {
  Call = common.Call,
  dial = uac.dial,         -- ua:dial(target, opts)
  call = uac.call,         -- ua:call(target, opts)
  incoming = uas.incoming, -- a new call from an INVITE outside any dialog
}
