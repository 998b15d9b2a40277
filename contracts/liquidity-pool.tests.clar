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
;; error codes as DESIGN section 2 fixes them), never its data vars, constants
;; or private functions, so that refactoring the vault's internals does not
;; break it.
;;
;; Run it with `npm run test:invariants` (scripts/run-invariants.mjs), not with
;; a bare `npx rv`: rendezvous 0.12.0 cannot read the deployment plan that
;; clarinet-sdk 3.21 writes, the combined contract must be deployed after
;; sbtc-token (it references it), and the wallets need sBTC, which only the
;; deployer can mint. The runner does those three things and then hands over to
;; rendezvous's own invariant / property loops.
;;
;; How rendezvous drives this file:
;; - `invariant` mode: each run makes a random sequence of calls to the
;;   contract's public functions (the vault's and the `rv-` ones below; never
;;   `test-` ones), each from a random simnet account with random arguments,
;;   then evaluates one randomly chosen `invariant-` read-only function, which
;;   must return true. State carries over from run to run. After every call
;;   that returns `(ok ...)`, rendezvous bumps `context[<function>].called`
;;   (the `context` map it adds to the contract); refused calls are not counted.
;;   Principal arguments are always simnet accounts, never contracts; a
;;   `<sip-010-trait>` argument is always `.sbtc-token`, the only project
;;   contract that implements the trait; `(optional ...)` is `none` about one
;;   time in six, so roughly 5/6 of token arguments are sBTC and 1/6 STX.
;;   Amounts are random naturals below 2^31.
;; - `test` mode: each run calls one random `test-` public function from a
;;   random simnet account with random arguments. `(ok true)` passes, `(ok
;;   false)` is a discarded run (precondition not met), anything else fails.
;;   State also carries over from run to run.
;;
;; Harness roles. At deployment (top-level expressions below) the harness makes
;; the vault itself (`current-contract`) its backend and its admin. No random
;; caller is ever the contract, so a random caller is never the backend or the
;; admin; the ONLY way to lock, release, settle or pause is through the `rv-`
;; functions below, which call the vault inside `as-contract?` (where
;; `contract-caller` is the vault). That lets this file keep an exact shadow
;; ("ghost") of what the backend has locked, and turns "no one but the backend
;; changes locked" into a plain state equality.
;;
;; Observed call mix (`RV_SEED=1 npm run test:invariants`, 1000 runs; the
;; runner prints this table after every run): invariant mode made 6146 random
;; calls and 37% of them succeeded. By path: deposits and premiums about 85%
;; (the rest: vault paused, or a zero amount), random-amount backend locks
;; about 60% (the rest: more than the free balance, paused, zero), whole-free-
;; balance locks about 40% (half of them ask one unit too many, on purpose),
;; releases and settlements about 97%, each for STX (about 1/6 of token
;; arguments) and for sBTC. Direct calls of backend-only and admin-only
;; functions and every withdraw-funds (about 45% of all calls) fail by
;; construction, which is what several invariants check. Test mode: 93% of
;; runs passed, 7% were discarded (a lock or settlement amount that did not
;; fit), none failed.

;; ---------------------------------------------------------------------------
;; Deploy-time harness setup
;; ---------------------------------------------------------------------------

;; The local sBTC stand-in. Referencing it here makes the combined contract
;; depend on sbtc-token, so it has to be deployed after it; see the runner.
(define-constant RV-SBTC-TOKEN .sbtc-token)

;; The vault's error codes as DESIGN section 2 fixes them.
(define-constant RV-ERR-NOT-AUTHORIZED (err u200))
(define-constant RV-ERR-PAUSED (err u207))

;; Top-level expressions run once, at deployment, with the deployer as both
;; tx-sender and contract-caller, i.e. as the vault's initial admin. They go
;; through the vault's real admin functions.
(unwrap-panic (set-sbtc-token-principal RV-SBTC-TOKEN))
(unwrap-panic (set-backend-principal current-contract))
(unwrap-panic (set-contract-admin current-contract))

;; ---------------------------------------------------------------------------
;; Ghost state
;; ---------------------------------------------------------------------------

;; What the backend has locked, minus what it has released and settled, per
;; token. Updated only by the backend helpers below, after the vault accepted
;; the call.
(define-data-var rv-ghost-locked { stx: uint, sbtc: uint } { stx: u0, sbtc: u0 })

;; How many backend actions left `locked` above `balance` for either token,
;; checked right after each one. A lock that over-commits the pool may be
;; covered by later deposits before an invariant looks (see the note at the
;; invariants); this record keeps it from slipping through.
(define-data-var rv-over-committed uint u0)

;; ---------------------------------------------------------------------------
;; Helpers
;; ---------------------------------------------------------------------------

(define-private (rv-called (function-name (string-ascii 100)))
  (default-to u0 (get called (map-get? context function-name))))

(define-read-only (rv-stx-totals)
  { balance: (get-total-stx-balance), locked: (get-total-stx-locked) })

(define-read-only (rv-sbtc-totals)
  { balance: (get-total-sbtc-balance), locked: (get-total-sbtc-locked) })

(define-private (rv-totals (token (optional <sip-010-trait>)))
  (if (is-none token) (rv-stx-totals) (rv-sbtc-totals)))

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

;; Moves the ghost after an accepted backend action and notes over-commitment.
(define-private (rv-ghost-move (token (optional <sip-010-trait>)) (amount uint) (up bool))
  (let ((ghost (var-get rv-ghost-locked)))
    (var-set rv-ghost-locked
      (if (is-none token)
        (merge ghost { stx: (if up (+ (get stx ghost) amount) (- (get stx ghost) amount)) })
        (merge ghost { sbtc: (if up (+ (get sbtc ghost) amount) (- (get sbtc ghost) amount)) })))
    (if (rv-within-balance) true (var-set rv-over-committed (+ (var-get rv-over-committed) u1)))))

;; The backend's actions: the vault's backend-only functions called with the
;; vault as contract-caller. The ghost moves only when the vault accepted.
(define-private (rv-as-backend-lock (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? () (try! (lock-collateral-aggregate (list u1) amount token))))
    (rv-ghost-move token amount true)
    (ok true)))

(define-private (rv-as-backend-release (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? () (try! (release-collateral-aggregate (list u1) amount token))))
    (rv-ghost-move token amount false)
    (ok true)))

;; The allowance lets the vault's own (inner, exact) allowance through; the
;; settlement moves one of the two assets, never both.
(define-private (rv-as-backend-settle (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (begin
    (try! (as-contract? ((with-stx amount) (with-ft RV-SBTC-TOKEN "sbtc-token" amount))
      (try! (settle-policy policy-id buyer amount token))))
    (rv-ghost-move token amount false)
    (ok true)))

(define-private (rv-as-admin-set-paused (pause bool))
  (begin
    (try! (as-contract? () (try! (set-paused pause))))
    (ok true)))

;; ---------------------------------------------------------------------------
;; Harness actions (invariant mode calls these at random, like the vault's own
;; public functions)
;; ---------------------------------------------------------------------------

(define-public (rv-backend-lock (amount uint) (token (optional <sip-010-trait>)))
  (rv-as-backend-lock amount token))

(define-public (rv-backend-release (amount uint) (token (optional <sip-010-trait>)))
  (rv-as-backend-release amount token))

(define-public (rv-backend-settle (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (rv-as-backend-settle policy-id buyer amount token))

;; Locks the whole free balance of the token, or one unit more (which the
;; vault must refuse): random amounts rarely land on that boundary.
(define-public (rv-backend-lock-free (one-more bool) (token (optional <sip-010-trait>)))
  (let ((totals (rv-totals token)))
    (rv-as-backend-lock
      (+ (- (get balance totals) (get locked totals)) (if one-more u1 u0))
      token)))

;; Pauses only one time in eight, and otherwise unpauses: with plain random
;; booleans the vault would sit paused half the time and refuse half of all
;; deposits and locks.
(define-public (rv-admin-set-paused (pause bool) (roll uint))
  (rv-as-admin-set-paused (and pause (is-eq (mod roll u4) u0))))

;; ---------------------------------------------------------------------------
;; Invariants
;; ---------------------------------------------------------------------------

;; Rendezvous evaluates ONE randomly chosen invariant after each run, so a
;; short-lived violation is only seen if the right invariant happens to be
;; picked before the state recovers. Hence few invariants, each covering both
;; tokens: each is then checked after about a fifth of all runs.

;; Collateral never exceeds the pool, for STX and for sBTC: now, and right
;; after every backend action so far.
(define-read-only (invariant-locked-le-balance)
  (and (rv-within-balance) (is-eq (var-get rv-over-committed) u0)))

;; The tracked balances are exactly what the vault holds: its STX balance, and
;; the sBTC token contract's own record of the vault's holding (a static call
;; to its read-only get-balance). Equality, not `<=`: in these runs tokens reach
;; the vault only through deposit-funds and pay-premium (random calls go to
;; this contract's public functions only, and no caller or settlement buyer is
;; ever the vault itself) and leave only through settle-policy and
;; withdraw-funds. So this is also DESIGN section 2's "deposits + premiums -
;; withdrawals - settlements = tracked balance". On a real chain anyone can
;; transfer tokens to the vault directly, so there only `<=` holds.
(define-read-only (invariant-tracked-equals-held)
  (and
    (is-eq (get-total-stx-balance) (stx-get-balance current-contract))
    (is-eq
      (get-total-sbtc-balance)
      (unwrap-panic (contract-call? .sbtc-token get-balance current-contract)))))

;; Nothing but the backend changes `locked`, checked two ways:
;; - ghost: for both tokens, `locked` equals what the backend locked minus what
;;   it released and settled (the harness's `rv-` helpers are the backend);
;; - context counters: no direct call of a backend-only function has ever
;;   succeeded; every direct caller is a simnet account, never the backend.
(define-read-only (invariant-only-backend-moves-locked)
  (let ((ghost (var-get rv-ghost-locked)))
    (and
      (is-eq (get-total-stx-locked) (get stx ghost))
      (is-eq (get-total-sbtc-locked) (get sbtc ghost))
      (is-eq (rv-called "lock-collateral-aggregate") u0)
      (is-eq (rv-called "release-collateral-aggregate") u0)
      (is-eq (rv-called "settle-policy") u0))))

;; No withdrawal without a valid voucher: random calls carry random signatures,
;; and the backend (the vault itself) cannot sign one, so withdraw-funds must
;; never have succeeded and no voucher nonce (a random one here) is spent.
(define-read-only (invariant-no-withdrawal-without-voucher (nonce uint))
  (and
    (is-eq (rv-called "withdraw-funds") u0)
    (not (is-voucher-used nonce))))

;; Only the admin configures: no random account ever got an admin function
;; through, and the configuration set at deployment is unchanged.
(define-read-only (invariant-only-admin-configures)
  (and
    (is-eq (rv-called "set-sbtc-token-principal") u0)
    (is-eq (rv-called "set-backend-principal") u0)
    (is-eq (rv-called "set-contract-admin") u0)
    (is-eq (rv-called "set-paused") u0)
    (is-eq (get-backend-principal) current-contract)
    (is-eq (get-contract-admin) current-contract)
    (is-eq (get-sbtc-token-principal) (some RV-SBTC-TOKEN))))

;; ---------------------------------------------------------------------------
;; Property tests (test mode). Error codes u9xx name the failed check.
;; ---------------------------------------------------------------------------

;; A deposit or premium goes through exactly when it should (not paused, a
;; positive amount the payer has), credits the pool with exactly `amount`,
;; moves exactly `amount` from the payer into the vault and leaves `locked`
;; alone; a refused one changes nothing.
(define-public (test-funds-in-credit-exactly (amount uint) (token (optional <sip-010-trait>)) (premium bool))
  (let (
      (before (rv-totals token))
      (held-before (rv-held token current-contract))
      (payer-before (rv-held token tx-sender))
      (expected (and (not (is-paused)) (> amount u0) (<= amount payer-before)))
      (result (if premium (pay-premium u1 amount token) (deposit-funds amount token)))
    )
    (asserts! (is-eq (is-ok result) expected) (err u900))
    (if (is-ok result)
      (begin
        (asserts! (is-eq (rv-totals token) (merge before { balance: (+ (get balance before) amount) })) (err u901))
        (asserts! (is-eq (rv-held token current-contract) (+ held-before amount)) (err u902))
        (asserts! (is-eq (rv-held token tx-sender) (- payer-before amount)) (err u903))
        (ok true))
      (begin
        (asserts! (is-eq (rv-totals token) before) (err u904))
        (asserts! (is-eq (rv-held token current-contract) held-before) (err u905))
        (ok false)))))

;; A backend lock goes through exactly when `amount` is positive and fits in
;; the free balance (`balance - locked`), adds exactly `amount` to `locked`
;; and never touches `balance`.
(define-public (test-backend-lock-adds-exactly (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (before (rv-totals token))
      (expected (and (not (is-paused)) (> amount u0) (<= (+ (get locked before) amount) (get balance before))))
      (result (rv-as-backend-lock amount token))
    )
    (asserts! (is-eq (is-ok result) expected) (err u910))
    (if (is-ok result)
      (begin
        (asserts! (<= (+ (get locked before) amount) (get balance before)) (err u911))
        (asserts! (is-eq (rv-totals token) (merge before { locked: (+ (get locked before) amount) })) (err u912))
        (ok true))
      (begin
        (asserts! (is-eq (rv-totals token) before) (err u913))
        (ok false)))))

;; Locking then releasing the same amount restores the totals exactly.
(define-public (test-lock-then-release-restores (amount uint) (token (optional <sip-010-trait>)))
  (let ((before (rv-totals token)))
    (if (is-err (rv-as-backend-lock amount token))
      (ok false)
      (begin
        (asserts! (is-ok (rv-as-backend-release amount token)) (err u921))
        (asserts! (is-eq (rv-totals token) before) (err u922))
        (ok true)))))

;; A settlement goes through exactly when `amount` is positive and covered by
;; locked collateral, paused or not (policyholders are paid even while the
;; vault is frozen). It pays the buyer exactly `amount`: balance, locked and
;; the vault's real holding all drop by `amount`.
(define-public (test-settlement-pays-buyer-from-locked (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)) (while-paused bool))
  (let (
      (before (rv-totals token))
      (held-before (rv-held token current-contract))
      (buyer-before (rv-held token buyer))
      (expected (and (> amount u0) (<= amount (get locked before))))
      (was-paused (is-paused))
      (paused-now (if (and while-paused (not was-paused)) (is-ok (rv-as-admin-set-paused true)) was-paused))
      (result (rv-as-backend-settle policy-id buyer amount token))
    )
    (asserts! (is-eq paused-now (is-paused)) (err u930))
    (asserts! (is-eq (is-ok result) expected) (err u936))
    (try! (rv-as-admin-set-paused was-paused))
    (if (is-ok result)
      (begin
        (asserts! (<= amount (get locked before)) (err u931))
        (asserts! (is-eq (rv-totals token) { balance: (- (get balance before) amount), locked: (- (get locked before) amount) }) (err u932))
        (asserts! (is-eq (rv-held token current-contract) (- held-before amount)) (err u933))
        (asserts! (is-eq (rv-held token buyer) (+ buyer-before amount)) (err u934))
        (ok true))
      (begin
        (asserts! (is-eq (rv-totals token) before) (err u935))
        (ok false)))))

;; Anyone but the backend is refused by lock, release and settle (with u200,
;; before any other check), and the totals stay as they were.
(define-public (test-only-backend-moves-collateral (op uint) (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (stx-before (rv-stx-totals))
      (sbtc-before (rv-sbtc-totals))
      (kind (mod op u3))
    )
    (if (is-eq contract-caller (get-backend-principal))
      (ok false)
      (begin
        (asserts!
          (is-eq RV-ERR-NOT-AUTHORIZED
            (if (is-eq kind u0)
              (lock-collateral-aggregate (list policy-id) amount token)
              (if (is-eq kind u1)
                (release-collateral-aggregate (list policy-id) amount token)
                (settle-policy policy-id buyer amount token))))
          (err u941))
        (asserts! (is-eq (rv-stx-totals) stx-before) (err u942))
        (asserts! (is-eq (rv-sbtc-totals) sbtc-before) (err u943))
        (ok true)))))

;; Anyone but the admin is refused by every admin function (with u200), and
;; the configuration stays as it was.
(define-public (test-only-admin-configures (op uint) (p principal) (pause bool))
  (let (
      (before { admin: (get-contract-admin), backend: (get-backend-principal), sbtc: (get-sbtc-token-principal), paused: (is-paused) })
      (kind (mod op u4))
    )
    (if (is-eq contract-caller (get-contract-admin))
      (ok false)
      (begin
        (asserts!
          (is-eq RV-ERR-NOT-AUTHORIZED
            (if (is-eq kind u0)
              (set-backend-principal p)
              (if (is-eq kind u1)
                (set-contract-admin p)
                (if (is-eq kind u2) (set-paused pause) (set-sbtc-token-principal p)))))
          (err u971))
        (asserts!
          (is-eq before { admin: (get-contract-admin), backend: (get-backend-principal), sbtc: (get-sbtc-token-principal), paused: (is-paused) })
          (err u972))
        (ok true)))))

;; A withdrawal with a random signature is refused and changes nothing: the
;; totals, the vault's holding and the nonce stay as they were.
(define-public (test-random-voucher-is-refused (amount uint) (token (optional <sip-010-trait>)) (nonce uint) (expires-at uint) (signature (buff 65)))
  (let (
      (before (rv-totals token))
      (held-before (rv-held token current-contract))
      (result (withdraw-funds amount token nonce expires-at signature))
    )
    (asserts! (is-err result) (err u951))
    (asserts! (not (is-voucher-used nonce)) (err u952))
    (asserts! (is-eq (rv-totals token) before) (err u953))
    (asserts! (is-eq (rv-held token current-contract) held-before) (err u954))
    (ok true)))

;; While paused, deposits, premiums, locks and withdrawals fail with
;; ERR-PAUSED, and releases still go through; after unpausing (and re-locking
;; what was released) the totals are back where they were.
(define-public (test-pause-stops-funds-in-not-releases (amount uint) (token (optional <sip-010-trait>)))
  (let (
      (before (rv-totals token))
      (can-release (and (> amount u0) (<= amount (get locked before))))
    )
    (asserts! (not (is-paused)) (ok false))
    (try! (rv-as-admin-set-paused true))
    (asserts! (is-eq (deposit-funds amount token) RV-ERR-PAUSED) (err u961))
    (asserts! (is-eq (pay-premium u1 amount token) RV-ERR-PAUSED) (err u962))
    (asserts! (is-eq (rv-as-backend-lock amount token) RV-ERR-PAUSED) (err u963))
    (asserts! (is-eq (withdraw-funds amount token u0 u0 0x) RV-ERR-PAUSED) (err u964))
    (asserts! (or (not can-release) (is-ok (rv-as-backend-release amount token))) (err u965))
    (try! (rv-as-admin-set-paused false))
    (asserts! (or (not can-release) (is-ok (rv-as-backend-lock amount token))) (err u966))
    (asserts! (is-eq (rv-totals token) before) (err u967))
    (ok true)))
