;; liquidity-pool.tests.clar: rendezvous (`rv`) invariants and property tests
;; for the liquidity-pool vault.
;;
;; Not a contract of its own and not listed in Clarinet.toml (so simnet, vitest
;; and deployments never see it). Rendezvous finds it next to the vault by name
;; (`<contract>.tests.clar`) and deploys ONE contract made of
;;   liquidity-pool.clar ++ rendezvous's `context` map ++ this file,
;; under the vault's own name. Everything here therefore runs inside the vault:
;; it calls the vault's functions directly (a direct call keeps
;; `contract-caller` as the outside caller) and reads rendezvous's `context`.
;; It uses only the vault's public interface (public and read-only functions,
;; error codes and defaults as the README documents them), never its data
;; vars, constants or private functions, so that refactoring the vault's
;; internals does not break it.
;;
;; Run it with `npm run test:invariants` (scripts/run-invariants.ts), not with
;; a bare `npx rv`: rendezvous 0.12.0 cannot read the deployment plan that
;; clarinet-sdk 3.21 writes, the combined contract must be deployed after
;; sbtc-token (it references it), the wallets need sBTC (only the deployer can
;; mint it), and the role hand-over below needs burn blocks mined between
;; deployment and the first random call. The runner does those things and then
;; hands over to rendezvous's own invariant / property loops.
;;
;; How rendezvous drives this file:
;; - `invariant` mode: each run makes a random sequence of calls (about five)
;;   to the contract's public functions (the vault's and the `rv-` ones below;
;;   never `test-` ones, and never `rv-setup-` ones, which the runner keeps out
;;   of the random set), each from a random simnet account with random
;;   arguments, then evaluates one randomly chosen `invariant-` read-only
;;   function, which must return true. Half of the runs then mine a random
;;   number of burn blocks (up to 100,000 / runs). State carries over from run
;;   to run. After every call that returns `(ok ...)`, rendezvous bumps
;;   `context[<function>].called`; refused calls are not counted. Principal
;;   arguments are always simnet accounts, never contracts; a
;;   `<sip-010-trait>` argument is always `.sbtc-token`, the only project
;;   contract that implements the trait; `(optional ...)` is `none` about one
;;   time in six, so roughly 5/6 of token arguments are sBTC and 1/6 STX.
;;   Amounts are random naturals below 2^31.
;; - `test` mode: each run calls one random `test-` public function from a
;;   random simnet account with random arguments. `(ok true)` passes, `(ok
;;   false)` is a discarded run (precondition not met), anything else fails.
;;   State also carries over from run to run.
;; - Both modes run in two phases (the runner's choice, see
;;   scripts/run-invariants.ts): the live vault first, then, once the runner
;;   has shut the vault down (unless a random call already did), a shorter
;;   exit phase on the same state, where the random calls go on (every one but
;;   a claim must now be refused) and the claims are made. The runner shuts
;;   the vault down both ways it allows: in invariant mode the backend falls
;;   silent (SILENCE burn blocks without a checkpoint) and an ordinary account
;;   calls `shutdown`; in test mode the admin does, through
;;   `rv-admin-shutdown`. In test mode the live phase runs the `test-`
;;   functions and the exit phase the `test-exit-` ones.
;;
;; Harness roles. No random caller may hold a role: the invariants rely on
;; every random call of a role-only function being refused, and on an exact
;; shadow ("ghost") of what the operator locked. So the vault itself
;; (`current-contract`) takes all four roles (admin, guardian, operator and
;; signer), and the `rv-` functions below act as those roles by calling the
;; vault inside `as-contract?`, where `contract-caller` is the vault. No random
;; caller is ever the contract, and no key can sign a voucher as a contract, so
;; random withdrawals fail by construction. Roles change only by
;; `propose-role` and, ROLE-DELAY burn blocks later, `accept-role` by the new
;; holder, and no burn block passes inside the deploy transaction. Hence two
;; steps: the deploy-time code below (run by the deployer, the initial holder
;; of every role) proposes the vault for each role; the runner then mines
;; ROLE-DELAY burn blocks and calls `rv-setup-accept-roles`, which accepts all
;; four as the vault, and checks `get-roles`, all before rendezvous makes its
;; first random call. The deployer therefore holds roles only before the
;; random runs start, and the invariants hold from the first random call on.
;; The same runner step hands over the list of simnet accounts
;; (`rv-setup-accounts`), so that the invariants can add up every provider
;; record and every exit claim: random calls can only come from those accounts.
;;
;; Observed call mix (`RV_SEED=1 npm run test:invariants`, 1000 runs; the
;; runner prints this table after every phase). Invariant mode, live phase:
;; 6146 random calls, 25% succeeded. Deposits and premiums about 94% (the
;; rest: paused, one zero amount); operator locks of random amounts about 65%
;; (the rest: more than the free balance, paused, zero), whole-free-balance
;; locks about 44% (half of them ask one unit too many, on purpose); releases
;; about 87%; random settlements about 60% and whole-window settlements about
;; 32%, with 131 settlements refused by the outflow limit (u213) and the rest
;; by what is locked or a zero amount; pausing and limit changes always;
;; checkpoints 61% (the rest: the current one still vetoable) and vetoes 42%
;; (the rest: outside the veto window); STX is about 1/6 of each. No random
;; shutdown came up (217 rolls, 207 direct `shutdown` calls refused with u200
;; or u219), and 373 claims were refused before shutdown (u216). Direct calls
;; of role-only functions and every withdraw-funds (about 54% of all calls)
;; fail by construction, which is what several invariants check. Exit phase
;; (500 runs, 3065 calls): every one of the 12 possible claims (6 accounts,
;; 2 tokens) was paid once, 191 repeats were refused with u218 and every
;; other call with u215. Test mode: live phase 89% of runs passed, the rest
;; discarded (mostly settlements and locks whose amount did not fit, and
;; checkpoints while the current one was vetoable), none failed; exit phase
;; 97% passed (the rest: callers with no claim to make). 1000 runs of both
;; modes take about two minutes, 200 runs about 30 seconds.

;; ---------------------------------------------------------------------------
;; Deploy-time harness setup
;; ---------------------------------------------------------------------------

;; The local sBTC stand-in. Referencing it here makes the combined contract
;; depend on sbtc-token, so it has to be deployed after it; see the runner.
(define-constant RV-SBTC-TOKEN .sbtc-token)

;; The vault's fixed delays and the basis-point denominator of its outflow
;; limit, as the README documents them (the vault's own constants are not
;; part of its interface).
(define-constant RV-OUTFLOW-WINDOW u144)
(define-constant RV-CHECKPOINT-VETO-WINDOW u144)
(define-constant RV-SILENCE u4320)
(define-constant RV-BPS-DENOMINATOR u10000)

;; The vault counts the backend's silence from its deployment, this very
;; transaction.
(define-constant RV-DEPLOYED-AT burn-block-height)

;; `rv-admin-shutdown` shuts the vault only for a roll of this residue, about
;; one call in 2,000 (a few percent of 200-run campaigns): most runs test the
;; live vault, and the runner shuts it for the exit phase anyway. Not 0:
;; random naturals hit 0 far more often than 1/2003 (fast-check favours small
;; values).
(define-constant RV-SHUTDOWN-MODULUS u2003)
(define-constant RV-SHUTDOWN-RESIDUE u1001)

;; A live backend posts checkpoints regularly. Rendezvous mines up to
;; 100,000 / runs burn blocks after half of the runs, so without a heartbeat
;; the backend would look silent for SILENCE burn blocks now and then (a veto
;; restoring an old checkpoint makes it likelier), and a random `shutdown`
;; would end the live vault early. The operator helpers of the random calls
;; therefore also post a checkpoint after an accepted action once the current
;; one is this old. The runner covers the silent-backend shutdown in the exit
;; phase instead.
(define-constant RV-HEARTBEAT u2160)

(define-constant RV-NO-RECORD
  { nonce: u0, stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0, created-seq: u0 })

;; Harness refusals (not vault errors): setup already done, a shutdown roll
;; that did not come up.
(define-constant RV-ERR-SETUP (err u990))
(define-constant RV-ERR-NOT-THIS-TIME (err u991))

;; Top-level expressions run once, at deployment, with the deployer as both
;; tx-sender and contract-caller, i.e. as the holder of every role. They go
;; through the vault's real functions.
(unwrap-panic (set-sbtc-token-principal RV-SBTC-TOKEN))
(unwrap-panic (propose-role "admin" current-contract))
(unwrap-panic (propose-role "guardian" current-contract))
(unwrap-panic (propose-role "operator" current-contract))
(unwrap-panic (propose-role "signer" current-contract))

;; ---------------------------------------------------------------------------
;; Ghost state
;; ---------------------------------------------------------------------------

;; Every simnet account (set once by the runner): all possible depositors and
;; claimants.
(define-data-var rv-accounts (list 20 principal) (list))

;; What the operator has locked, minus what it has released and settled, per
;; token. Updated only by the operator helpers below, after the vault accepted
;; the call.
(define-data-var rv-ghost-locked { stx: uint, sbtc: uint } { stx: u0, sbtc: u0 })

;; The outflow limit the admin helper last set (the vault's defaults first).
(define-data-var rv-limit
  { bps: uint, stx-floor: uint, sbtc-floor: uint }
  { bps: u1000, stx-floor: u1000000000, sbtc-floor: u10000000 })

;; Per token, the outflow window as the harness's own settlements left it,
;; and the largest cap in force at any outflow of that window. Settlements are
;; the only outflows here (random withdrawals cannot succeed, claims are not
;; limited), so this is exact.
(define-data-var rv-windows
  {
    stx: { start: uint, used: uint, max-cap: uint },
    sbtc: { start: uint, used: uint, max-cap: uint },
  }
  {
    stx: { start: u0, used: u0, max-cap: u0 },
    sbtc: { start: u0, used: u0, max-cap: u0 },
  })

;; The last checkpoint epoch the operator helper posted (epochs are never
;; reused, vetoed or not).
(define-data-var rv-last-epoch uint u0)

;; The leaves the operator helper put in each checkpoint, with their proofs.
(define-map rv-leaves
  { epoch: uint, provider: principal }
  {
    leaf: { stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint },
    proof: (list 32 { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool }),
  })

;; What the claim helper saw claims pay, per token.
(define-data-var rv-paid { stx: uint, sbtc: uint } { stx: u0, sbtc: u0 })

;; Faults the helpers saw right after a call, by kind: "over-committed"
;; (locked above balance after an operator action), "outflow" (an outflow that
;; did not move `used` by exactly its amount, or took it past the cap in force
;; at the call), "checkpoint" (a posted checkpoint that differs from what was
;; posted, or a harness proof the vault does not accept), "claims" (a claim
;; whose result, payment or record differs from the exit terms), "ghost" (the
;; vault moved more than the ghost holds). A state that is wrong only for a
;; moment may be right again when an invariant looks (rendezvous checks one
;; invariant per run); these records keep it from slipping through. A
;; record survives only if the public function that made it returns `(ok
;; ...)` (an `err` rolls it back): faults are recorded after an accepted call,
;; and `rv-claim-exit` returns `(ok false)` when its claim was wrong.
(define-map rv-fault-count (string-ascii 16) uint)

;; ---------------------------------------------------------------------------
;; Helpers
;; ---------------------------------------------------------------------------

(define-private (rv-called (function-name (string-ascii 100)))
  (default-to u0 (get called (map-get? context function-name))))

(define-read-only (rv-faults (kind (string-ascii 16)))
  (default-to u0 (map-get? rv-fault-count kind)))

(define-private (rv-note-fault (kind (string-ascii 16)) (detail uint))
  (begin
    (print { rv-fault: kind, detail: detail })
    (map-set rv-fault-count kind (+ (rv-faults kind) u1))))

(define-private (rv-check (kind (string-ascii 16)) (holds bool) (detail uint))
  (if holds true (rv-note-fault kind detail)))

(define-private (rv-floor-sub (a uint) (b uint))
  (if (> a b) (- a b) u0))

(define-private (rv-min (a uint) (b uint))
  (if (< a b) a b))

(define-private (rv-token-id (token (optional <sip-010-trait>)))
  (match token t (some (contract-of t)) none))

(define-read-only (rv-token-principal (is-stx bool))
  (if is-stx none (some RV-SBTC-TOKEN)))

(define-read-only (rv-pool (is-stx bool))
  (if is-stx
    { balance: (get-total-stx-balance), locked: (get-total-stx-locked) }
    { balance: (get-total-sbtc-balance), locked: (get-total-sbtc-locked) }))

;; The real holding of `who` in the token: STX balance, or the sBTC contract's
;; own `get-balance`. Only callable from public functions: Clarity refuses
;; trait-based contract calls in read-only functions.
(define-private (rv-held (token (optional <sip-010-trait>)) (who principal))
  (match token
    t (unwrap-panic (contract-call? t get-balance who))
    (stx-get-balance who)))

(define-read-only (rv-within-balance)
  (and
    (<= (get-total-stx-locked) (get-total-stx-balance))
    (<= (get-total-sbtc-locked) (get-total-sbtc-balance))))

;; Everything a refused call must leave alone.
(define-read-only (rv-snapshot)
  {
    roles: (get-roles),
    pending: (list (get-pending-role "admin") (get-pending-role "guardian") (get-pending-role "operator") (get-pending-role "signer")),
    sbtc-token: (get-sbtc-token-principal),
    paused: (is-paused),
    shut-down: (is-shut-down),
    stx: (rv-pool true),
    sbtc: (rv-pool false),
    flows: (get-flows),
    checkpoint: (get-checkpoint),
    stx-window: (get-outflow none),
    sbtc-window: (get-outflow (some RV-SBTC-TOKEN)),
    exit-terms: (get-exit-terms),
  })

;; Sums over every simnet account: provider records and exit claims.
(define-private (rv-add-account
    (who principal)
    (acc { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint, nonces: uint, stx-paid: uint, sbtc-paid: uint }))
  (let ((record (default-to RV-NO-RECORD (get-provider-record who))))
    {
      stx-in: (+ (get stx-in acc) (get stx-in record)),
      stx-out: (+ (get stx-out acc) (get stx-out record)),
      sbtc-in: (+ (get sbtc-in acc) (get sbtc-in record)),
      sbtc-out: (+ (get sbtc-out acc) (get sbtc-out record)),
      nonces: (+ (get nonces acc) (get nonce record)),
      stx-paid: (+ (get stx-paid acc) (default-to u0 (get-exit-claim who none))),
      sbtc-paid: (+ (get sbtc-paid acc) (default-to u0 (get-exit-claim who (some RV-SBTC-TOKEN)))),
    }))

(define-read-only (rv-account-sums)
  (fold rv-add-account (var-get rv-accounts)
    { stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0, nonces: u0, stx-paid: u0, sbtc-paid: u0 }))

;; Moves the ghost after an accepted operator action and notes
;; over-commitment.
(define-private (rv-ghost-move (is-stx bool) (amount uint) (up bool))
  (let (
      (ghost (var-get rv-ghost-locked))
      (old (if is-stx (get stx ghost) (get sbtc ghost)))
      (new (if up (+ old amount) (rv-floor-sub old amount)))
    )
    (rv-check "ghost" (or up (<= amount old)) amount)
    (var-set rv-ghost-locked (if is-stx (merge ghost { stx: new }) (merge ghost { sbtc: new })))
    (rv-check "over-committed" (rv-within-balance) amount)))

(define-private (rv-window-of (is-stx bool))
  (if is-stx (get stx (var-get rv-windows)) (get sbtc (var-get rv-windows))))

;; After an accepted outflow of `amount`: `before` is the window as the call
;; saw it (same block). The outflow must have added exactly `amount` to
;; `used` and kept it within the cap in force at the call. The cap follows the
;; balance, so the outflow itself lowers it: only the cap before the call
;; bounds `used` (see invariant-outflow-within-cap).
(define-private (rv-note-outflow (is-stx bool) (before { window-start: uint, used: uint, cap: uint, available: uint }) (amount uint))
  (let (
      (after (get-outflow (rv-token-principal is-stx)))
      (ghost (rv-window-of is-stx))
      (same-window (is-eq (get window-start before) (get start ghost)))
      (max-cap (if (and same-window (> (get max-cap ghost) (get cap before))) (get max-cap ghost) (get cap before)))
      (window { start: (get window-start after), used: (get used after), max-cap: max-cap })
      (windows (var-get rv-windows))
    )
    (var-set rv-windows (if is-stx (merge windows { stx: window }) (merge windows { sbtc: window })))
    (rv-check "outflow"
      (and
        (is-eq (get window-start after) (get window-start before))
        (is-eq (get used after) (+ (get used before) amount))
        (<= (get used after) (get cap before)))
      amount)))

;; The outflow window of a token as the vault must show it: the cap from the
;; limit the harness set and the current balance, and either a fresh window
;; (once OUTFLOW-WINDOW burn blocks have passed since the harness's last
;; outflow's window started) or exactly what the harness's outflows used.
(define-read-only (rv-window-holds (is-stx bool))
  (let (
      (view (get-outflow (rv-token-principal is-stx)))
      (ghost (rv-window-of is-stx))
      (limit (var-get rv-limit))
      (floor (if is-stx (get stx-floor limit) (get sbtc-floor limit)))
      (share (/ (* (get balance (rv-pool is-stx)) (get bps limit)) RV-BPS-DENOMINATOR))
      (cap (if (> share floor) share floor))
    )
    (and
      (is-eq (get cap view) cap)
      (is-eq (get available view) (rv-floor-sub cap (get used view)))
      (if (>= burn-block-height (+ (get start ghost) RV-OUTFLOW-WINDOW))
        (and (is-eq (get window-start view) burn-block-height) (is-eq (get used view) u0))
        (and
          (is-eq (get window-start view) (get start ghost))
          (is-eq (get used view) (get used ghost))
          (<= (get used ghost) (get max-cap ghost)))))))

;; ---------------------------------------------------------------------------
;; The roles' actions: the vault's role-only functions called with the vault
;; as contract-caller. A `try!` inside `as-contract?` returns from the helper,
;; so a refusal comes back as the vault's own error.
;; ---------------------------------------------------------------------------

(define-private (rv-as-operator-lock (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? () (try! (lock-collateral-aggregate (list u1) amount token))))
    (rv-ghost-move (is-none token) amount true)
    (ok true)))

(define-private (rv-as-operator-release (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? () (try! (release-collateral-aggregate (list u1) amount token))))
    (rv-ghost-move (is-none token) amount false)
    (ok true)))

;; The allowance lets the vault's own (inner, exact) allowance through; the
;; settlement moves one of the two assets, never both.
(define-private (rv-settle-call (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? ((with-stx amount) (with-ft RV-SBTC-TOKEN "sbtc-token" amount))
      (try! (settle-policy policy-id buyer amount token))))
    (ok true)))

(define-private (rv-as-operator-settle (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (is-stx (is-none token))
      (before (get-outflow (rv-token-id token)))
      (result (rv-settle-call policy-id buyer amount token))
    )
    (if (is-ok result)
      (begin
        (rv-note-outflow is-stx before amount)
        (rv-ghost-move is-stx amount false)
        result)
      result)))

(define-private (rv-as-guardian-pause)
  (begin
    (try! (as-contract? () (try! (pause))))
    (ok true)))

(define-private (rv-as-admin-unpause)
  (begin
    (try! (as-contract? () (try! (unpause))))
    (ok true)))

(define-private (rv-restore-pause (paused bool))
  (if (is-eq paused (is-paused))
    (ok true)
    (if paused (rv-as-guardian-pause) (rv-as-admin-unpause))))

(define-private (rv-as-admin-set-limit (bps uint) (stx-floor uint) (sbtc-floor uint))
  (begin
    (try! (as-contract? () (try! (set-outflow-limit bps stx-floor sbtc-floor))))
    (var-set rv-limit { bps: bps, stx-floor: stx-floor, sbtc-floor: sbtc-floor })
    (ok true)))

(define-private (rv-as-guardian-veto)
  (begin
    (try! (as-contract? () (try! (veto-checkpoint))))
    (ok true)))

(define-private (rv-as-admin-shutdown)
  (begin
    (try! (as-contract? () (try! (shutdown))))
    (ok true)))

;; ---------------------------------------------------------------------------
;; Checkpoints: Merkle-sum trees over a random subset of the simnet accounts,
;; hashed as the vault hashes them (leaf: sha256(0x00 || consensus(leaf));
;; node: sha256(0x01 || consensus({left, left-stx, left-sbtc, right,
;; right-stx, right-sbtc})), sums added; leaves in order, each level pairs
;; (0,1), (2,3), ..., an odd last node is carried up unchanged; one leaf: the
;; root is its hash).
;; ---------------------------------------------------------------------------

;; A leaf for `provider` with the given balances and the record's flows.
(define-private (rv-leaf (provider principal) (stx uint) (sbtc uint))
  (let ((record (default-to RV-NO-RECORD (get-provider-record provider))))
    {
      provider: provider, stx: stx, sbtc: sbtc,
      stx-in: (get stx-in record), stx-out: (get stx-out record),
      sbtc-in: (get sbtc-in record), sbtc-out: (get sbtc-out record),
    }))

(define-private (rv-leaf-node (leaf { provider: principal, stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }))
  {
    hash: (sha256 (concat 0x00 (unwrap-panic (to-consensus-buff? leaf)))),
    stx: (get stx leaf),
    sbtc: (get sbtc leaf),
  })

(define-private (rv-parent (left { hash: (buff 32), stx: uint, sbtc: uint }) (right { hash: (buff 32), stx: uint, sbtc: uint }))
  {
    hash: (sha256 (concat 0x01 (unwrap-panic (to-consensus-buff? {
      left: (get hash left), left-stx: (get stx left), left-sbtc: (get sbtc left),
      right: (get hash right), right-stx: (get stx right), right-sbtc: (get sbtc right),
    })))),
    stx: (+ (get stx left) (get stx right)),
    sbtc: (+ (get sbtc left) (get sbtc right)),
  })

(define-private (rv-sibling (node { hash: (buff 32), stx: uint, sbtc: uint }) (is-left bool))
  { hash: (get hash node), stx: (get stx node), sbtc: (get sbtc node), is-left: is-left })

;; Every account with a provider record (the books have one leaf per
;; record), and of the others those whose bit is NOT set in `mask` (all of
;; them when every bit is), in account order: leaves without a record are
;; allowed and prove nothing claimable. The first provider with a record
;; gets the balances `stx` and `sbtc` (yield or payouts make a provider's
;; balance differ from deposits less withdrawals) and deposits in the leaf
;; that lag the record's by a random part (books that lag make the claims owe
;; more in total than the liabilities the vault computes at shutdown, so that
;; the cap at what the vault still holds matters); every other leaf's
;; balances are its deposits less withdrawals.
(define-private (rv-pick-leaf
    (who principal)
    (acc { bit: uint, mask: uint, all: bool, seeded: bool, stx: uint, sbtc: uint, leaves: (list 32 { provider: principal, stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }) }))
  (let (
      (found (get-provider-record who))
      (record (default-to RV-NO-RECORD found))
      (first (and (is-some found) (not (get seeded acc))))
      (plain (rv-leaf who
        (rv-floor-sub (get stx-in record) (get stx-out record))
        (rv-floor-sub (get sbtc-in record) (get sbtc-out record))))
    )
    (merge acc {
      bit: (* (get bit acc) u2),
      seeded: (or first (get seeded acc)),
      leaves: (if (or (is-some found) (get all acc) (is-eq (bit-and (get mask acc) (get bit acc)) u0))
        (unwrap-panic (as-max-len?
          (append (get leaves acc)
            (if first
              (merge plain {
                stx: (get stx acc),
                sbtc: (get sbtc acc),
                stx-in: (- (get stx-in record) (mod (get stx acc) (+ (get stx-in record) u1))),
                sbtc-in: (- (get sbtc-in record) (mod (get sbtc acc) (+ (get sbtc-in record) u1))),
              })
              plain))
          u32))
        (get leaves acc)),
    })))

(define-private (rv-pair-up
    (node { hash: (buff 32), stx: uint, sbtc: uint })
    (acc { pending: (optional { hash: (buff 32), stx: uint, sbtc: uint }), out: (list 32 { hash: (buff 32), stx: uint, sbtc: uint }) }))
  (match (get pending acc)
    left { pending: none, out: (unwrap-panic (as-max-len? (append (get out acc) (rv-parent left node)) u32)) }
    { pending: (some node), out: (get out acc) }))

;; One level up the tree.
(define-private (rv-next-level (nodes (list 32 { hash: (buff 32), stx: uint, sbtc: uint })))
  (let ((paired (fold rv-pair-up nodes { pending: none, out: (list) })))
    (match (get pending paired)
      carried (unwrap-panic (as-max-len? (append (get out paired) carried) u32))
      (get out paired))))

;; The sibling at one level of the path of the node at `index` (none when
;; that node is carried up).
(define-private (rv-proof-step
    (level (list 32 { hash: (buff 32), stx: uint, sbtc: uint }))
    (acc { index: uint, proof: (list 32 { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool }) }))
  (let (
      (index (get index acc))
      (is-right (is-eq (mod index u2) u1))
    )
    {
      index: (/ index u2),
      proof: (match (element-at? level (if is-right (- index u1) (+ index u1)))
        sibling (unwrap-panic (as-max-len? (append (get proof acc) (rv-sibling sibling is-right)) u32))
        (get proof acc)),
    }))

;; Keeps each posted leaf and its proof, and checks that the vault accepts
;; the proof and refuses the same leaf with one unit more.
(define-private (rv-keep-leaf
    (leaf { provider: principal, stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint })
    (acc { epoch: uint, index: uint, levels: (list 5 (list 32 { hash: (buff 32), stx: uint, sbtc: uint })) }))
  (let (
      (provider (get provider leaf))
      (body {
        stx: (get stx leaf), sbtc: (get sbtc leaf),
        stx-in: (get stx-in leaf), stx-out: (get stx-out leaf),
        sbtc-in: (get sbtc-in leaf), sbtc-out: (get sbtc-out leaf),
      })
      (proof (get proof (fold rv-proof-step (get levels acc) { index: (get index acc), proof: (list) })))
    )
    (map-set rv-leaves { epoch: (get epoch acc), provider: provider } { leaf: body, proof: proof })
    (rv-check "checkpoint" (verify-exit-proof provider body proof) (get epoch acc))
    (rv-check "checkpoint" (not (verify-exit-proof provider (merge body { stx: (+ (get stx body) u1) }) proof)) (get epoch acc))
    (merge acc { index: (+ (get index acc) u1) })))

;; Posts the books as the operator, as of the vault's current flows: a leaf
;; for each account `mask` picks (see rv-pick-leaf), at most 32 (five levels
;; of pairing reach the root). `stx` and `sbtc` are random: the first leaf's
;; balances are drawn from them.
(define-private (rv-as-operator-post (mask uint) (stx uint) (sbtc uint))
  (let (
      (accounts (var-get rv-accounts))
      (every-bit (- (pow u2 (len accounts)) u1))
      ;; The seeded leaf's balances reach up to twice the pool, so that the
      ;; books owe more than the vault holds about half the time (the
      ;; pro-rata exit) and less the other half.
      (leaves (get leaves (fold rv-pick-leaf accounts
        {
          bit: u1, mask: mask, all: (is-eq (bit-and mask every-bit) every-bit), seeded: false,
          stx: (mod stx (+ (* u2 (get-total-stx-balance)) u1)),
          sbtc: (mod sbtc (+ (* u2 (get-total-sbtc-balance)) u1)),
          leaves: (list),
        })))
      (level-0 (map rv-leaf-node leaves))
      (level-1 (rv-next-level level-0))
      (level-2 (rv-next-level level-1))
      (level-3 (rv-next-level level-2))
      (level-4 (rv-next-level level-3))
      (root (unwrap-panic (element-at? (rv-next-level level-4) u0)))
      (flows (get-flows))
      (book-flows { stx-in: (get stx-in flows), stx-out: (get stx-out flows), sbtc-in: (get sbtc-in flows), sbtc-out: (get sbtc-out flows) })
      (epoch (+ (var-get rv-last-epoch) u1))
    )
    (try! (as-contract? ()
      (try! (post-checkpoint (get hash root) (get stx root) (get sbtc root) (get seq flows) book-flows (len leaves)))))
    (var-set rv-last-epoch epoch)
    (rv-check "checkpoint"
      (is-eq (get-checkpoint) (some {
        epoch: epoch, root: (get hash root), stx-sum: (get stx root), sbtc-sum: (get sbtc root),
        as-of-seq: (get seq flows), flows: book-flows, leaf-count: (len leaves), posted-at: burn-block-height,
      }))
      epoch)
    (fold rv-keep-leaf leaves { epoch: epoch, index: u0, levels: (list level-0 level-1 level-2 level-3 level-4) })
    (ok true)))

(define-read-only (rv-vetoable (checkpoint (optional { epoch: uint, root: (buff 32), stx-sum: uint, sbtc-sum: uint, as-of-seq: uint, flows: { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }, leaf-count: uint, posted-at: uint })))
  (match checkpoint posted (< burn-block-height (+ (get posted-at posted) RV-CHECKPOINT-VETO-WINDOW)) false))

;; ---------------------------------------------------------------------------
;; Exit claims
;; ---------------------------------------------------------------------------

;; The harness's leaf for `provider` in the current checkpoint, if it posted
;; one.
(define-read-only (rv-current-leaf (provider principal))
  (match (get-checkpoint)
    posted (map-get? rv-leaves { epoch: (get epoch posted), provider: provider })
    none))

;; What a claim must return, from the exit terms, the provider's record, the
;; current checkpoint and the vault's tracked balance: `(ok {owed, paid})`, or
;; the vault's error.
(define-read-only (rv-expected-claim
    (provider principal)
    (is-stx bool)
    (leaf (optional { stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint })))
  (let (
      (terms (unwrap! (get-exit-terms) (err u216)))
      (record (unwrap! (get-provider-record provider) (err u217)))
      (in (if is-stx (get stx-in record) (get sbtc-in record)))
      (out (if is-stx (get stx-out record) (get sbtc-out record)))
      (checkpoint (get-checkpoint))
    )
    (asserts! (is-none (get-exit-claim provider (rv-token-principal is-stx))) (err u218))
    (let (
        (owed (match leaf
          proven (begin
            (asserts! (is-some checkpoint) (err u217))
            ;; leaf + (in - leaf.in) - (out - leaf.out), floored at 0
            (rv-floor-sub
              (+ (if is-stx (get stx proven) (get sbtc proven)) in (if is-stx (get stx-out proven) (get sbtc-out proven)))
              (+ (if is-stx (get stx-in proven) (get sbtc-in proven)) out)))
          (begin
            (asserts! (match checkpoint posted (> (get created-seq record) (get as-of-seq posted)) true) (err u217))
            (rv-floor-sub in out))))
        (assets (if is-stx (get stx-assets terms) (get sbtc-assets terms)))
        (liabilities (if is-stx (get stx-liabilities terms) (get sbtc-liabilities terms)))
        (share (if (>= assets liabilities) owed (/ (* owed assets) liabilities)))
        (balance (get balance (rv-pool is-stx)))
      )
      (ok { owed: owed, paid: (rv-min share balance) }))))

(define-private (rv-add-paid (is-stx bool) (paid uint))
  (let ((ghost (var-get rv-paid)))
    (var-set rv-paid
      (if is-stx (merge ghost { stx: (+ (get stx ghost) paid) }) (merge ghost { sbtc: (+ (get sbtc ghost) paid) })))))

;; A claim by tx-sender, with their leaf in the current checkpoint when
;; `use-leaf` and the harness posted one, else without a leaf. Returns
;; `(ok <the vault's result>)` when that result, the payment, the tracked
;; balance and the claim record are exactly what the exit terms say (a
;; refusal: the expected error, nothing changed), else `(err u98x)`. Never
;; a runtime error: every subtraction is guarded first, so that a fault is
;; recorded instead of the call being dropped.
(define-private (rv-claim-checked (token (optional <sip-010-trait>)) (use-leaf bool))
  (let (
      (provider tx-sender)
      (is-stx (is-none token))
      (entry (if use-leaf (rv-current-leaf provider) none))
      (leaf (match entry found (some (get leaf found)) none))
      (proof (default-to (list) (get proof entry)))
      (expected (rv-expected-claim provider is-stx leaf))
      (pool-before (rv-pool is-stx))
      (held-before (rv-held token current-contract))
      (mine-before (rv-held token provider))
      (result (claim-exit token leaf proof))
    )
    (match expected
      want (match result
        paid (begin
          (asserts! (is-eq paid (get paid want)) (err u980))
          (asserts! (<= paid (get owed want)) (err u981))
          (asserts! (and (<= paid held-before) (<= paid (get balance pool-before))) (err u982))
          (asserts! (is-eq (rv-pool is-stx) (merge pool-before { balance: (- (get balance pool-before) paid) })) (err u983))
          (asserts! (is-eq (rv-held token current-contract) (- held-before paid)) (err u984))
          (asserts! (is-eq (rv-held token provider) (+ mine-before paid)) (err u985))
          (asserts! (is-eq (get-exit-claim provider (rv-token-id token)) (some paid)) (err u986))
          (rv-add-paid is-stx paid)
          (ok result))
        code (err u987))
      code (begin
        (asserts! (is-eq result (err code)) (err u988))
        (asserts! (is-eq (rv-pool is-stx) pool-before) (err u989))
        (asserts! (is-eq (rv-held token current-contract) held-before) (err u973))
        (ok result)))))

;; ---------------------------------------------------------------------------
;; Runner setup (kept out of the random calls by the runner; each works once)
;; ---------------------------------------------------------------------------

(define-public (rv-setup-accounts (accounts (list 20 principal)))
  (begin
    (asserts! (and (is-eq (len (var-get rv-accounts)) u0) (> (len accounts) u0)) RV-ERR-SETUP)
    (ok (var-set rv-accounts accounts))))

;; Accepts, as the vault, the four roles proposed to it at deployment; the
;; runner calls it once ROLE-DELAY burn blocks have passed.
(define-public (rv-setup-accept-roles)
  (begin
    (try! (as-contract? ()
      (try! (accept-role "admin"))
      (try! (accept-role "guardian"))
      (try! (accept-role "operator"))
      (try! (accept-role "signer"))))
    (ok true)))

;; ---------------------------------------------------------------------------
;; Harness actions (invariant mode calls these at random, like the vault's own
;; public functions)
;; ---------------------------------------------------------------------------

;; The backend's heartbeat (see RV-HEARTBEAT): after an accepted operator
;; action, a checkpoint of every account if the current one (or, without one,
;; the deployment) is RV-HEARTBEAT burn blocks old.
(define-private (rv-alive (result (response bool uint)) (amount uint))
  (begin
    (and
      (is-ok result)
      (> burn-block-height (+ (match (get-checkpoint) posted (get posted-at posted) RV-DEPLOYED-AT) RV-HEARTBEAT))
      (is-ok (rv-as-operator-post u0 amount amount)))
    result))

(define-public (rv-operator-lock (amount uint) (token (optional <sip-010-trait>)))
  (rv-alive (rv-as-operator-lock amount token) amount))

(define-public (rv-operator-release (amount uint) (token (optional <sip-010-trait>)))
  (rv-alive (rv-as-operator-release amount token) amount))

(define-public (rv-operator-settle (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (rv-alive (rv-as-operator-settle policy-id buyer amount token) amount))

;; Locks the whole free balance of the token, or one unit more (which the
;; vault must refuse): random amounts rarely land on that boundary.
(define-public (rv-operator-lock-free (one-more bool) (token (optional <sip-010-trait>)))
  (let (
      (pool (rv-pool (is-none token)))
      (amount (+ (rv-floor-sub (get balance pool) (get locked pool)) (if one-more u1 u0)))
    )
    (rv-alive (rv-as-operator-lock amount token) amount)))

;; Settles all the window still allows (within what is locked), or one unit
;; more than the window allows (which the vault must refuse with u213, or
;; u206 when that is more than is locked): the cap's boundary.
(define-public (rv-operator-settle-window (one-more bool) (buyer principal) (token (optional <sip-010-trait>)))
  (let (
      (available (get available (get-outflow (rv-token-id token))))
      (locked (get locked (rv-pool (is-none token))))
    )
    (rv-alive (rv-as-operator-settle u1 buyer (if one-more (+ available u1) (rv-min available locked)) token) available)))

;; Pauses (as the guardian) only one time in eight, and otherwise unpauses (as
;; the admin): with plain random booleans the vault would sit paused half the
;; time and refuse half of all deposits and locks.
(define-public (rv-set-paused (pause-it bool) (roll uint))
  (if (and pause-it (is-eq (mod roll u4) u0))
    (rv-as-guardian-pause)
    (rv-as-admin-unpause)))

;; Any limit the vault accepts: 0 to 10,000 bps, any floors (zero included:
;; a zero cap stops every outflow).
(define-public (rv-admin-set-outflow-limit (bps uint) (stx-floor uint) (sbtc-floor uint))
  (rv-as-admin-set-limit (mod bps (+ RV-BPS-DENOMINATOR u1)) stx-floor sbtc-floor))

(define-public (rv-operator-post-checkpoint (mask uint) (stx uint) (sbtc uint))
  (rv-as-operator-post mask stx sbtc))

(define-public (rv-guardian-veto-checkpoint)
  (rv-as-guardian-veto))

(define-public (rv-admin-shutdown (roll uint))
  (if (is-eq (mod roll RV-SHUTDOWN-MODULUS) RV-SHUTDOWN-RESIDUE)
    (rv-as-admin-shutdown)
    RV-ERR-NOT-THIS-TIME))

;; A claim by the (random) caller, as a provider would make it (with their
;; leaf when the current checkpoint has one), checked against the exit terms.
;; Random direct calls of claim-exit try the other ways (no leaf, random
;; leaves and proofs).
(define-public (rv-claim-exit (token (optional <sip-010-trait>)))
  (match (rv-claim-checked token true)
    result (match result paid (ok true) code (err code))
    fault (begin (rv-note-fault "claims" fault) (ok false))))

;; ---------------------------------------------------------------------------
;; Invariants
;; ---------------------------------------------------------------------------

;; Rendezvous evaluates ONE randomly chosen invariant after each run, so a
;; short-lived violation is only seen if the right invariant happens to be
;; picked before the state recovers; the fault records above cover what the
;; helpers see right after each call. Each invariant covers both tokens.

;; Collateral never exceeds the pool before shutdown, for STX and for sBTC:
;; now, and right after every operator action so far. After shutdown the
;; locked totals read 0.
(define-read-only (invariant-locked-within-balance)
  (and
    (is-eq (rv-faults "over-committed") u0)
    (if (is-shut-down)
      (and (is-eq (get-total-stx-locked) u0) (is-eq (get-total-sbtc-locked) u0))
      (rv-within-balance))))

;; The tracked balances are exactly what the vault holds: its STX balance, and
;; the sBTC token contract's own record of the vault's holding (a static call
;; to its read-only get-balance), before and after shutdown, claims included.
;; Equality, not `<=`: in these runs tokens reach the vault only through
;; deposit-funds and pay-premium (random calls go to this contract's public
;; functions only, and no caller, settlement buyer or claimant is ever the
;; vault itself) and leave only through settle-policy and claim-exit. So this
;; is also "deposits + premiums - withdrawals - settlements - claims = tracked
;; balance". On a real chain anyone can transfer tokens to the vault directly,
;; so there only `<=` holds.
(define-read-only (invariant-tracked-equals-held)
  (and
    (is-eq (get-total-stx-balance) (stx-get-balance current-contract))
    (is-eq
      (get-total-sbtc-balance)
      (unwrap-panic (contract-call? .sbtc-token get-balance current-contract)))))

;; Nothing but the operator changes `locked`, checked two ways:
;; - ghost: before shutdown, for both tokens, `locked` equals what the
;;   operator locked minus what it released and settled (the `rv-` helpers
;;   are the operator; after shutdown `locked` reads 0, see above);
;; - context counters: no direct call of an operator-only function has ever
;;   succeeded; every direct caller is a simnet account, never the operator.
(define-read-only (invariant-only-operator-moves-locked)
  (let ((ghost (var-get rv-ghost-locked)))
    (and
      (is-eq (rv-faults "ghost") u0)
      (or
        (is-shut-down)
        (and (is-eq (get-total-stx-locked) (get stx ghost)) (is-eq (get-total-sbtc-locked) (get sbtc ghost))))
      (is-eq (rv-called "lock-collateral-aggregate") u0)
      (is-eq (rv-called "release-collateral-aggregate") u0)
      (is-eq (rv-called "settle-policy") u0)
      (is-eq (rv-called "post-checkpoint") u0)
      (is-eq (rv-called "publish-leaves") u0))))

;; `used <= cap` in every window, per token. The cap is a share of the
;; balance, and an outflow lowers the balance and so the cap: an outflow that
;; takes the whole cap leaves `used` above the cap `get-outflow` shows next
;; (its `available` is floored at 0 for that reason), and so does a lower
;; limit set mid-window. What must hold is that each outflow kept `used`
;; within the cap in force at that call (recorded by the settlement helper),
;; so that `used` never exceeds the largest such cap of its window; and that
;; `get-outflow` shows exactly the limit's cap and the harness's own outflows,
;; or a fresh window once OUTFLOW-WINDOW burn blocks have passed.
(define-read-only (invariant-outflow-within-cap)
  (and
    (is-eq (rv-faults "outflow") u0)
    (rv-window-holds true)
    (rv-window-holds false)))

;; No withdrawal without a valid voucher: random calls carry random
;; signatures and the signer is the vault itself, which has no key. So
;; withdraw-funds never succeeded, no withdrawal ever counted in the flows,
;; and no provider has a redeemed voucher nonce.
(define-read-only (invariant-no-withdrawal-without-voucher)
  (let ((flows (get-flows)))
    (and
      (is-eq (rv-called "withdraw-funds") u0)
      (is-eq (get stx-out flows) u0)
      (is-eq (get sbtc-out flows) u0)
      (is-eq (get nonces (rv-account-sums)) u0))))

;; Only the role holders configure, and they are still the vault: no random
;; account ever got an admin or guardian function through, no role is pending
;; and the sBTC principal set at deployment is unchanged.
(define-read-only (invariant-roles-stay-with-vault)
  (and
    (is-eq (get-roles)
      { admin: current-contract, guardian: current-contract, operator: (some current-contract), signer: (some current-contract) })
    (is-none (get-pending-role "admin"))
    (is-none (get-pending-role "guardian"))
    (is-none (get-pending-role "operator"))
    (is-none (get-pending-role "signer"))
    (is-eq (get-sbtc-token-principal) (some RV-SBTC-TOKEN))
    (is-eq (rv-called "set-sbtc-token-principal") u0)
    (is-eq (rv-called "propose-role") u0)
    (is-eq (rv-called "accept-role") u0)
    (is-eq (rv-called "cancel-role") u0)
    (is-eq (rv-called "revoke-hot-keys") u0)
    (is-eq (rv-called "pause") u0)
    (is-eq (rv-called "unpause") u0)
    (is-eq (rv-called "set-outflow-limit") u0)
    (is-eq (rv-called "veto-checkpoint") u0)))

;; The provider records add up to the flow counters: every deposit and
;; withdrawal counted once in its provider's record and once in the flows.
(define-read-only (invariant-records-match-flows)
  (let ((sums (rv-account-sums)) (flows (get-flows)))
    (and
      (> (len (var-get rv-accounts)) u0)
      (is-eq (get stx-in sums) (get stx-in flows))
      (is-eq (get stx-out sums) (get stx-out flows))
      (is-eq (get sbtc-in sums) (get sbtc-in flows))
      (is-eq (get sbtc-out sums) (get sbtc-out flows)))))

;; The exit pays at most what the vault held, once per provider and token.
;; After shutdown, per token, what the claim records say was paid plus the
;; tracked balance is exactly the recorded assets (so the claims paid never
;; exceed the assets, and nothing but a claim moved the balance); the claims
;; the helper made are among them; and every claim the helper made matched
;; the exit terms (a second claim included: u218). Before shutdown there are
;; no exit terms and no claim.
(define-read-only (invariant-exit-pays-at-most-assets)
  (let ((sums (rv-account-sums)) (ghost (var-get rv-paid)))
    (and
      (is-eq (rv-faults "claims") u0)
      (<= (get stx ghost) (get stx-paid sums))
      (<= (get sbtc ghost) (get sbtc-paid sums))
      (match (get-exit-terms)
        terms (and
          (is-shut-down)
          (is-eq (+ (get stx-paid sums) (get-total-stx-balance)) (get stx-assets terms))
          (is-eq (+ (get sbtc-paid sums) (get-total-sbtc-balance)) (get sbtc-assets terms)))
        (and (not (is-shut-down)) (is-eq (get stx-paid sums) u0) (is-eq (get sbtc-paid sums) u0))))))

;; The operator's checkpoints are posted as sent, epochs are never reused,
;; and the vault accepts the harness's proofs (and refuses tampered leaves).
(define-read-only (invariant-checkpoints-verify)
  (and
    (is-eq (rv-faults "checkpoint") u0)
    (match (get-checkpoint) posted (<= (get epoch posted) (var-get rv-last-epoch)) true)))

;; ---------------------------------------------------------------------------
;; Property tests (test mode). Error codes u9xx name the failed check.
;; Live phase: every `test-` function but the `test-exit-` ones.
;; ---------------------------------------------------------------------------

;; A deposit or premium goes through exactly when it should (not paused, a
;; positive amount the payer has), credits the pool with exactly `amount`,
;; moves exactly `amount` from the payer into the vault and leaves `locked`
;; alone. A deposit also adds `amount` to the payer's record (created with
;; `created-seq` = the new `seq` if new) and to the flows, and 1 to `seq`; a
;; premium touches neither. A refused one changes nothing.
(define-public (test-funds-in-credit-exactly (amount uint) (token (optional <sip-010-trait>)) (premium bool))
  (let (
      (is-stx (is-none token))
      (before (rv-pool is-stx))
      (held-before (rv-held token current-contract))
      (payer-before (rv-held token tx-sender))
      (record-before (get-provider-record tx-sender))
      (flows-before (get-flows))
      (seq (+ (get seq flows-before) u1))
      (expected-code (if (is-paused) u207 (if (is-eq amount u0) u208 (if (> amount payer-before) u203 u0))))
      (result (if premium (pay-premium u1 amount token) (deposit-funds amount token)))
    )
    (if (is-eq expected-code u0)
      (let ((record (default-to (merge RV-NO-RECORD { created-seq: seq }) record-before)))
        (asserts! (is-ok result) (err u900))
        (asserts! (is-eq (rv-pool is-stx) (merge before { balance: (+ (get balance before) amount) })) (err u901))
        (asserts! (is-eq (rv-held token current-contract) (+ held-before amount)) (err u902))
        (asserts! (is-eq (rv-held token tx-sender) (- payer-before amount)) (err u903))
        (asserts!
          (is-eq (get-provider-record tx-sender)
            (if premium
              record-before
              (some (if is-stx
                (merge record { stx-in: (+ (get stx-in record) amount) })
                (merge record { sbtc-in: (+ (get sbtc-in record) amount) })))))
          (err u904))
        (asserts!
          (is-eq (get-flows)
            (if premium
              flows-before
              (if is-stx
                (merge flows-before { seq: seq, stx-in: (+ (get stx-in flows-before) amount) })
                (merge flows-before { seq: seq, sbtc-in: (+ (get sbtc-in flows-before) amount) }))))
          (err u905))
        (ok true))
      (begin
        (asserts! (is-eq result (err expected-code)) (err u906))
        (asserts! (is-eq (rv-pool is-stx) before) (err u907))
        (asserts! (is-eq (rv-held token current-contract) held-before) (err u908))
        (asserts! (is-eq (get-flows) flows-before) (err u909))
        (ok false)))))

;; An operator lock goes through exactly when the vault is not paused and
;; `amount` is positive and fits in the free balance (`balance - locked`),
;; adds exactly `amount` to `locked` and never touches `balance`; otherwise
;; it fails with exactly u207, u208 or u205, in that order.
(define-public (test-operator-lock-adds-exactly (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (is-stx (is-none token))
      (before (rv-pool is-stx))
      (expected-code
        (if (is-paused) u207
        (if (is-eq amount u0) u208
        (if (> (+ (get locked before) amount) (get balance before)) u205 u0))))
      (result (rv-as-operator-lock amount token))
    )
    (if (is-eq expected-code u0)
      (begin
        (asserts! (is-ok result) (err u910))
        (asserts! (is-eq (rv-pool is-stx) (merge before { locked: (+ (get locked before) amount) })) (err u911))
        (ok true))
      (begin
        (asserts! (is-eq result (err expected-code)) (err u912))
        (asserts! (is-eq (rv-pool is-stx) before) (err u913))
        (ok false)))))

;; Locking then releasing the same amount restores the totals exactly, and
;; releasing one unit more than is locked fails with u206.
(define-public (test-lock-then-release-restores (amount uint) (token (optional <sip-010-trait>)))
  (let ((is-stx (is-none token)) (before (rv-pool is-stx)))
    (if (is-err (rv-as-operator-lock amount token))
      (ok false)
      (begin
        (asserts! (is-ok (rv-as-operator-release amount token)) (err u921))
        (asserts! (is-eq (rv-pool is-stx) before) (err u922))
        (asserts! (is-eq (rv-as-operator-release (+ (get locked before) u1) token) (err u206)) (err u923))
        (ok true)))))

;; Locks free balance until `locked` reaches `target`, if there is enough of
;; it and the vault takes the lock (not while paused); whether `locked` now
;; covers `target`.
(define-private (rv-lock-up-to (target uint) (token (optional <sip-010-trait>)))
  (let (
      (pool (rv-pool (is-none token)))
      (missing (rv-floor-sub target (get locked pool)))
    )
    (if (is-eq missing u0)
      true
      (and (<= missing (rv-floor-sub (get balance pool) (get locked pool))) (is-ok (rv-as-operator-lock missing token))))))

;; A settlement goes through exactly when its amount is positive (u208),
;; covered by locked collateral (u206) and within what the outflow window
;; still allows (u213), paused or not (policyholders are paid even while the
;; vault is frozen). `size` picks the amount: the random one (a quarter of
;; the runs), all the window allows (half of them; free balance is locked
;; first to cover as much of it as the vault holds, so that most runs pay),
;; or one unit more than the window allows with enough free balance locked
;; first to cover it, so that only the window can refuse it (u213). It pays the buyer exactly that: balance,
;; locked and the vault's real holding all drop by it, and `used` rises by it,
;; never past the cap the call saw.
(define-public (test-settlement-within-outflow-limit (buyer principal) (amount uint) (token (optional <sip-010-trait>)) (while-paused bool) (size uint))
  (let (
      (is-stx (is-none token))
      (mode (mod size u4))
      (window (get-outflow (rv-token-id token)))
      (covered
        (if (is-eq mode u3) (rv-lock-up-to (+ (get available window) u1) token)
        (if (is-eq mode u0) false
        (rv-lock-up-to (rv-min (get available window) (get balance (rv-pool is-stx))) token))))
      (before (rv-pool is-stx))
      (settled
        (if (is-eq mode u0) amount
        (if (is-eq mode u3) (+ (get available window) u1)
        (rv-min (get available window) (get locked before)))))
      (held-before (rv-held token current-contract))
      (buyer-before (rv-held token buyer))
      (faults-before (rv-faults "outflow"))
      (expected-code
        (if (is-eq settled u0) u208
        (if (> settled (get locked before)) u206
        (if (> (+ (get used window) settled) (get cap window)) u213 u0))))
      (was-paused (is-paused))
      (paused-now (if (and while-paused (not was-paused)) (is-ok (rv-as-guardian-pause)) was-paused))
      (result (rv-as-operator-settle u1 buyer settled token))
    )
    (asserts! (is-eq paused-now (is-paused)) (err u930))
    (try! (rv-restore-pause was-paused))
    (if (is-eq expected-code u0)
      (let ((after (get-outflow (rv-token-id token))))
        (asserts! (is-ok result) (err u931))
        (asserts! (is-eq (get used after) (+ (get used window) settled)) (err u932))
        (asserts! (<= (get used after) (get cap window)) (err u933))
        (asserts! (is-eq (rv-faults "outflow") faults-before) (err u934))
        (asserts!
          (is-eq (rv-pool is-stx) { balance: (- (get balance before) settled), locked: (- (get locked before) settled) })
          (err u935))
        (asserts! (is-eq (rv-held token current-contract) (- held-before settled)) (err u936))
        (asserts! (is-eq (rv-held token buyer) (+ buyer-before settled)) (err u937))
        (ok true))
      (begin
        (asserts! (is-eq result (err expected-code)) (err u938))
        (asserts! (is-eq (rv-pool is-stx) before) (err u939))
        (asserts! (is-eq (get-outflow (rv-token-id token)) window) (err u929))
        (ok false)))))

;; `get-outflow` is exactly what the limit and the harness's settlements
;; make it, for both tokens: the cap from the current limit and balance,
;; `available` = cap - used floored at 0, and a fresh window (starting now,
;; nothing used) once OUTFLOW-WINDOW burn blocks have passed since the last
;; settlement's window started, else that window's `used`.
(define-public (test-outflow-view-is-exact)
  (begin
    (asserts! (rv-window-holds true) (err u940))
    (asserts! (rv-window-holds false) (err u941))
    (ok true)))

;; The admin sets any limit of at most 10,000 bps (u208 above), with any
;; floors; the caps follow at once. `raw` passes `bps` as drawn (mostly above
;; 10,000), else it is brought into range.
(define-public (test-outflow-limit-bounds (bps uint) (stx-floor uint) (sbtc-floor uint) (raw bool))
  (let (
      (limit-bps (if raw bps (mod bps (+ RV-BPS-DENOMINATOR u1))))
      (before (rv-snapshot))
      (result (rv-as-admin-set-limit limit-bps stx-floor sbtc-floor))
    )
    (if (<= limit-bps RV-BPS-DENOMINATOR)
      (begin
        (asserts! (is-ok result) (err u942))
        (asserts! (rv-window-holds true) (err u943))
        (asserts! (rv-window-holds false) (err u944))
        (ok true))
      (begin
        (asserts! (is-eq result (err u208)) (err u945))
        (asserts! (is-eq (rv-snapshot) before) (err u946))
        (ok true)))))

;; The operator posts a checkpoint of the accounts `mask` picks exactly when the
;; current one is past its veto window (else u219, nothing changes); it is
;; stored as sent, with the next epoch and `posted-at` = now, and the vault
;; accepts the harness's proofs (and not a leaf with one unit more). A veto
;; right after makes the previous checkpoint current again, and that one
;; cannot be vetoed (u219).
(define-public (test-checkpoint-post-and-veto (mask uint) (stx uint) (sbtc uint) (veto bool))
  (let (
      (before (get-checkpoint))
      (faults-before (rv-faults "checkpoint"))
      (result (rv-as-operator-post mask stx sbtc))
    )
    (if (rv-vetoable before)
      (begin
        (asserts! (is-eq result (err u219)) (err u950))
        (asserts! (is-eq (get-checkpoint) before) (err u951))
        (ok false))
      (begin
        (asserts! (is-ok result) (err u952))
        (asserts! (is-eq (rv-faults "checkpoint") faults-before) (err u953))
        (if veto
          (begin
            (asserts! (is-ok (rv-as-guardian-veto)) (err u954))
            (asserts! (is-eq (get-checkpoint) before) (err u955))
            (asserts! (is-eq (rv-as-guardian-veto) (err u219)) (err u956))
            (ok true))
          (ok true))))))

;; Anyone but the role holders is refused by every role-only function (u200
;; before any other check; accept-role with nothing pending: u220), and
;; nothing changes. `shutdown` is refused too while the backend is not yet
;; silent (u200) or the checkpoint is vetoable (u219); once anyone may shut
;; the vault down the run is discarded (this test does not shut it).
(define-public (test-roles-refuse-outsiders (op uint) (who principal) (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (kind (mod op u15))
      (before (rv-snapshot))
      (current (get-checkpoint))
      (silent (> burn-block-height (+ (match current posted (get posted-at posted) RV-DEPLOYED-AT) RV-SILENCE)))
      (vetoable (rv-vetoable current))
    )
    (asserts! (or (not (is-eq kind u14)) vetoable (not silent)) (ok false))
    (asserts!
      (is-eq
        (if (is-eq kind u1) (err u220) (if (and (is-eq kind u14) vetoable) (err u219) (err u200)))
        (if (is-eq kind u0) (propose-role "operator" who)
        (if (is-eq kind u1) (accept-role "operator")
        (if (is-eq kind u2) (cancel-role "operator")
        (if (is-eq kind u3) (revoke-hot-keys)
        (if (is-eq kind u4) (pause)
        (if (is-eq kind u5) (unpause)
        (if (is-eq kind u6) (set-outflow-limit amount amount amount)
        (if (is-eq kind u7) (set-sbtc-token-principal RV-SBTC-TOKEN)
        (if (is-eq kind u8) (post-checkpoint (sha256 amount) amount amount u0 { stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0 } u1)
        (if (is-eq kind u9) (veto-checkpoint)
        (if (is-eq kind u10) (publish-leaves amount u0 (list))
        (if (is-eq kind u11) (lock-collateral-aggregate (list u1) amount token)
        (if (is-eq kind u12) (release-collateral-aggregate (list u1) amount token)
        (if (is-eq kind u13) (settle-policy u1 who amount token)
        (shutdown))))))))))))))))
      (err u970))
    (asserts! (is-eq (rv-snapshot) before) (err u971))
    (ok true)))

;; A withdrawal with a random signature is refused with the first check it
;; fails (u207 paused, u208 zero amount, else u211: no key signs as the
;; vault's signer, and the signer is checked before expiry and nonce) and
;; changes nothing: the totals, the flows, the caller's record and the
;; vault's holding stay as they were.
(define-public (test-random-voucher-is-refused (amount uint) (token (optional <sip-010-trait>)) (nonce uint) (expires-at uint) (signature (buff 65)))
  (let (
      (record (get-provider-record tx-sender))
      (expected-code
        (if (is-paused) u207
        (if (is-eq amount u0) u208 u211)))
      (before (rv-snapshot))
      (held-before (rv-held token current-contract))
      (result (withdraw-funds amount token nonce expires-at signature))
    )
    (asserts! (is-eq result (err expected-code)) (err u960))
    (asserts! (is-eq (get-provider-record tx-sender) record) (err u961))
    (asserts! (is-eq (rv-snapshot) before) (err u962))
    (asserts! (is-eq (rv-held token current-contract) held-before) (err u963))
    (ok true)))

;; While paused, deposits, premiums, locks and withdrawals fail with u207, and
;; releases still go through; after the admin unpauses (and the operator
;; re-locks what was released) the totals are back where they were.
(define-public (test-pause-stops-funds-in-not-releases (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (is-stx (is-none token))
      (before (rv-pool is-stx))
      (can-release (and (> amount u0) (<= amount (get locked before))))
    )
    (asserts! (not (is-paused)) (ok false))
    (try! (rv-as-guardian-pause))
    (asserts! (is-eq (deposit-funds amount token) (err u207)) (err u964))
    (asserts! (is-eq (pay-premium u1 amount token) (err u207)) (err u965))
    (asserts! (is-eq (rv-as-operator-lock amount token) (err u207)) (err u966))
    (asserts! (is-eq (withdraw-funds amount token u1 u0 0x) (err u207)) (err u967))
    (asserts! (or (not can-release) (is-ok (rv-as-operator-release amount token))) (err u968))
    (try! (rv-as-admin-unpause))
    (asserts! (or (not can-release) (is-ok (rv-as-operator-lock amount token))) (err u969))
    (asserts! (is-eq (rv-pool is-stx) before) (err u972))
    (ok true)))

;; Before shutdown a claim fails with u216 and changes nothing.
(define-public (test-claim-before-shutdown-refused (token (optional <sip-010-trait>)) (use-leaf bool))
  (if (is-shut-down)
    (ok false)
    (begin
      (asserts! (is-eq (try! (rv-claim-checked token use-leaf)) (err u216)) (err u975))
      (ok true))))

;; ---------------------------------------------------------------------------
;; Property tests of the exit phase (the runner runs only these after it has
;; shut the vault down).
;; ---------------------------------------------------------------------------

;; A claim returns and pays exactly what the exit terms give the caller
;; (`owed`, or the same pro-rata share as everyone when the assets fall
;; short, never more than the vault still holds), lowers the tracked balance
;; and the vault's holding by that and records it; a refused one changes
;; nothing (see rv-claim-checked). Claiming again for the same token then
;; fails with u218 and changes nothing. Discarded when the caller has no
;; claim to make (u217: no record, or a record older than the checkpoint
;; claimed without its leaf).
(define-public (test-exit-claim-pays-owed-share (token (optional <sip-010-trait>)) (use-leaf bool))
  (if (not (is-shut-down))
    (ok false)
    (let (
        (first (try! (rv-claim-checked token use-leaf)))
        (second (try! (rv-claim-checked token use-leaf)))
      )
      (asserts! (or (is-ok first) (is-eq first (err u218)) (is-eq first (err u217))) (err u976))
      (asserts! (or (is-eq first (err u217)) (is-eq second (err u218))) (err u977))
      (ok (not (is-eq first (err u217)))))))

;; After shutdown every public function but claim-exit fails with u215, even
;; for the role holders, and changes nothing.
(define-public (test-exit-others-refused (op uint) (who principal) (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (kind (mod op u18))
      (before (rv-snapshot))
    )
    (asserts! (is-shut-down) (ok false))
    (asserts!
      (is-eq (err u215)
        (if (is-eq kind u0) (deposit-funds amount token)
        (if (is-eq kind u1) (pay-premium u1 amount token)
        (if (is-eq kind u2) (withdraw-funds amount token u1 u0 0x)
        (if (is-eq kind u3) (rv-as-operator-lock amount token)
        (if (is-eq kind u4) (rv-as-operator-release amount token)
        (if (is-eq kind u5) (rv-as-operator-settle u1 who amount token)
        (if (is-eq kind u6) (rv-as-admin-set-limit u0 u0 u0)
        (if (is-eq kind u7) (rv-as-guardian-pause)
        (if (is-eq kind u8) (rv-as-admin-unpause)
        (if (is-eq kind u9) (propose-role "operator" who)
        (if (is-eq kind u10) (accept-role "operator")
        (if (is-eq kind u11) (cancel-role "operator")
        (if (is-eq kind u12) (revoke-hot-keys)
        (if (is-eq kind u13) (rv-as-operator-post op amount amount)
        (if (is-eq kind u14) (rv-as-guardian-veto)
        (if (is-eq kind u15) (publish-leaves amount u0 (list))
        (if (is-eq kind u16) (rv-as-admin-shutdown)
        (set-sbtc-token-principal RV-SBTC-TOKEN)))))))))))))))))))
      (err u978))
    (asserts! (is-eq (rv-snapshot) before) (err u979))
    (ok true)))
