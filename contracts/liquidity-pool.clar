;; liquidity-pool: the BitHedge liquidity pool vault, version 2.
;;
;; Holds the pooled STX and sBTC collateral of the liquidity providers. The
;; vault keeps aggregate totals (balance and locked, per token), and per
;; provider only what an exit needs: cumulative deposits in, voucher
;; withdrawals out, and the last voucher nonce. Balances, yield and locks live
;; off-chain in the Convex backend, which commits them here as Merkle-sum
;; checkpoints and keeps itself in step through the events printed here.
;;
;; Trust model (README "Security model"):
;; - anyone may deposit and pay premiums;
;; - a withdrawal needs a SIP-018 voucher signed by the signer key, bound to
;;   this vault, the provider, amount, token and a per-provider nonce;
;; - only the operator locks, releases and settles collateral and posts
;;   checkpoints; withdrawals and settlements of a token share one outflow
;;   window, so a stolen hot key takes at most one window's cap;
;; - the guardian pauses, revokes the hot keys, cancels role proposals and
;;   vetoes a fresh checkpoint, but never moves money and never unpauses;
;; - the admin (a multisig) configures and proposes role holders, who take
;;   over only after ROLE-DELAY;
;; - if the backend goes silent for SILENCE, anyone can shut the vault down and
;;   every provider claims their share with a proof against the last checkpoint.
;; Role checks use `contract-caller`, so a key holder lured into calling some
;; other contract cannot be made to act through it.

(use-trait sip-010-trait .sip-010-trait.sip-010-trait)

;; ---------------------------------------------------------------------------
;; Constants and errors
;; ---------------------------------------------------------------------------

(define-constant ERR-NOT-AUTHORIZED (err u200))
(define-constant ERR-INSUFFICIENT-BALANCE (err u201))
(define-constant ERR-INVALID-TOKEN-CONTRACT (err u202))
(define-constant ERR-TRANSFER-FAILED (err u203))
(define-constant ERR-ALREADY-INITIALIZED (err u204))
(define-constant ERR-LOCK-AMOUNT-EXCEEDS-AVAILABLE (err u205))
(define-constant ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED (err u206))
(define-constant ERR-PAUSED (err u207))
(define-constant ERR-INVALID-AMOUNT (err u208))
(define-constant ERR-VOUCHER-EXPIRED (err u209))
(define-constant ERR-VOUCHER-USED (err u210))
(define-constant ERR-INVALID-SIGNATURE (err u211))
(define-constant ERR-NOT-INITIALIZED (err u212))
(define-constant ERR-OUTFLOW-LIMIT (err u213))
(define-constant ERR-TIMELOCK (err u214))
(define-constant ERR-SHUT-DOWN (err u215))
(define-constant ERR-NOT-SHUT-DOWN (err u216))
(define-constant ERR-INVALID-PROOF (err u217))
(define-constant ERR-ALREADY-CLAIMED (err u218))
(define-constant ERR-INVALID-CHECKPOINT (err u219))
(define-constant ERR-INVALID-ROLE (err u220))

;; Delays, in burn blocks (~10 minutes each).
(define-constant OUTFLOW-WINDOW u144)
(define-constant ROLE-DELAY u144)
(define-constant CHECKPOINT-VETO-WINDOW u144)
(define-constant SILENCE u4320)

(define-constant BPS-DENOMINATOR u10000)
(define-constant MAX-UINT u340282366920938463463374607431768211455)

;; Without a checkpoint, the backend's silence counts from deployment.
(define-constant DEPLOYED-AT burn-block-height)

;; Asset name of the fungible token inside the sBTC contract; the outgoing
;; asset allowance names it so that no other asset can ever leave the vault.
(define-constant SBTC-ASSET-NAME "sbtc-token")

;; SIP-018 structured-data prefix ("SIP018") and the hash of this vault's
;; signing domain. `chain-id` ties a voucher to one network, the message's
;; `vault` field to this contract.
(define-constant SIP018-PREFIX 0x534950303138)
(define-constant VOUCHER-DOMAIN-HASH
  (sha256 (unwrap-panic (to-consensus-buff?
    { name: "bithedge-liquidity-pool", version: "2", chain-id: chain-id }))))

;; Domain separation of the Merkle-sum tree: a leaf's preimage can never be
;; passed off as a node's, or the reverse.
(define-constant LEAF-PREFIX 0x00)
(define-constant NODE-PREFIX 0x01)

(define-constant EMPTY-POOL { balance: u0, locked: u0, window-start: u0, used: u0 })

;; ---------------------------------------------------------------------------
;; Data
;; ---------------------------------------------------------------------------

;; Everything a money call needs, in one value. Read count is the cost
;; dimension that fills a Stacks block first (README "Contract costs"), so
;; every public money function reads this once and writes it at most once:
;; roles, switches, both tokens' totals and outflow windows, the outflow limit
;; and the flow counters all live here. Invariant per token, before shutdown:
;; locked <= balance = the vault's real holding.
(define-data-var vault
  {
    admin: principal,
    guardian: principal,
    operator: (optional principal),
    signer: (optional principal),
    ;; `none` until the admin points the vault at the sBTC contract (once).
    sbtc-token: (optional principal),
    paused: bool,
    shut-down: bool,
    stx: { balance: uint, locked: uint, window-start: uint, used: uint },
    sbtc: { balance: uint, locked: uint, window-start: uint, used: uint },
    limit: { bps: uint, stx-floor: uint, sbtc-floor: uint },
    flows: { seq: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint },
  }
  {
    admin: tx-sender,
    guardian: tx-sender,
    operator: (some tx-sender),
    signer: (some tx-sender),
    sbtc-token: none,
    paused: false,
    shut-down: false,
    stx: EMPTY-POOL,
    sbtc: EMPTY-POOL,
    limit: { bps: u1000, stx-floor: u1000000000, sbtc-floor: u10000000 },
    flows: { seq: u0, stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0 },
  })

;; What an exit needs per depositor: cumulative flows through deposits and
;; voucher withdrawals, the last redeemed voucher nonce, and the flow `seq` at
;; which the record appeared (a record newer than the checkpoint exits
;; without a leaf).
(define-map provider-records principal
  { nonce: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint, created-seq: uint })

;; A proposed role holder, who may accept from `eta` (a burn height) on.
(define-map pending-roles (string-ascii 8) { who: principal, eta: uint })

;; The current checkpoint and the one before it (current again if the guardian
;; vetoes the newer one inside its veto window). Epochs are never reused.
;; `exit-terms` is fixed at shutdown: per token, what the vault held and what
;; claims are owed in total (claims are paid pro rata when assets fall short).
;; It lives here, not in a var of its own, because every claim reads the
;; checkpoint anyway: one read less per claim.
(define-data-var checkpoints
  {
    current: (optional {
      epoch: uint, root: (buff 32), stx-sum: uint, sbtc-sum: uint, as-of-seq: uint,
      flows: { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint },
      leaf-count: uint, posted-at: uint,
    }),
    previous: (optional {
      epoch: uint, root: (buff 32), stx-sum: uint, sbtc-sum: uint, as-of-seq: uint,
      flows: { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint },
      leaf-count: uint, posted-at: uint,
    }),
    last-epoch: uint,
    exit-terms: (optional { stx-assets: uint, stx-liabilities: uint, sbtc-assets: uint, sbtc-liabilities: uint }),
  }
  { current: none, previous: none, last-epoch: u0, exit-terms: none })

;; What each provider was paid by `claim-exit`, per token; present = claimed.
(define-map exit-claims { provider: principal, sbtc: bool } uint)

;; ---------------------------------------------------------------------------
;; Private helpers
;; ---------------------------------------------------------------------------

;; Maps the token argument to the principal recorded in events and vouchers:
;; `none` for STX, the configured sBTC principal for sBTC. Any other SIP-010
;; contract, however similar, is refused.
(define-private (resolve-token (token (optional <sip-010-trait>)) (configured (optional principal)))
  (match token
    sip010
      (let ((sbtc-token (unwrap! configured ERR-NOT-INITIALIZED)))
        (asserts! (is-eq (contract-of sip010) sbtc-token) ERR-INVALID-TOKEN-CONTRACT)
        (ok (some sbtc-token)))
    (ok none)))

(define-private (is-operator (operator (optional principal)))
  (is-eq (some contract-caller) operator))

(define-private (is-guardian-or-admin (guardian principal) (admin principal))
  (or (is-eq contract-caller guardian) (is-eq contract-caller admin)))

;; Both tokens' pools (totals and outflow window) with the token's replaced:
;; merged into the vault state, it stores one token's change.
(define-private (pools-with
    (token-id (optional principal))
    (pool { balance: uint, locked: uint, window-start: uint, used: uint })
    (stx { balance: uint, locked: uint, window-start: uint, used: uint })
    (sbtc { balance: uint, locked: uint, window-start: uint, used: uint }))
  (if (is-none token-id) { stx: pool, sbtc: sbtc } { stx: stx, sbtc: pool }))

;; The outflow window as a call at burn height `now` sees it: a fresh one once
;; OUTFLOW-WINDOW burn blocks have passed since the stored one started. The
;; cap is a share of the balance before the call, never below the floor.
(define-private (outflow-view (pool { balance: uint, locked: uint, window-start: uint, used: uint }) (limit-bps uint) (floor uint) (now uint))
  (let (
      (fresh (>= now (+ (get window-start pool) OUTFLOW-WINDOW)))
      (share (/ (* (get balance pool) limit-bps) BPS-DENOMINATOR))
    )
    {
      window-start: (if fresh now (get window-start pool)),
      used: (if fresh u0 (get used pool)),
      cap: (if (> share floor) share floor),
    }))

;; Takes `amount` out of the token's pool: balance and the outflow window.
;; Withdrawals and settlements share the window, so no mix of them exceeds
;; the cap within one window.
(define-private (draw-outflow (token-id (optional principal)) (pool { balance: uint, locked: uint, window-start: uint, used: uint }) (limit { bps: uint, stx-floor: uint, sbtc-floor: uint }) (amount uint))
  (let (
      (window (outflow-view pool (get bps limit)
        (if (is-none token-id) (get stx-floor limit) (get sbtc-floor limit))
        burn-block-height))
      (used (+ (get used window) amount))
    )
    (asserts! (<= used (get cap window)) ERR-OUTFLOW-LIMIT)
    (ok {
      balance: (- (get balance pool) amount),
      locked: (get locked pool),
      window-start: (get window-start window),
      used: used,
    })))

;; Moves `amount` of the token from tx-sender into the vault.
(define-private (transfer-in (amount uint) (token (optional <sip-010-trait>)))
  (match token
    sip010 (match (contract-call? sip010 transfer amount tx-sender current-contract none)
      transferred (ok true)
      code ERR-TRANSFER-FAILED)
    (match (stx-transfer? amount tx-sender current-contract)
      transferred (ok true)
      code ERR-TRANSFER-FAILED)))

;; Moves `amount` of the token out of the vault. The allowance given to
;; `as-contract?` is exactly this amount of this one asset; `token-id` is the
;; already-checked sBTC principal (`none` for STX).
(define-private (transfer-out (amount uint) (recipient principal) (token (optional <sip-010-trait>)) (token-id (optional principal)))
  (match token
    sip010 (match (as-contract? ((with-ft (unwrap-panic token-id) SBTC-ASSET-NAME amount))
        (unwrap! (contract-call? sip010 transfer amount current-contract recipient none) ERR-TRANSFER-FAILED))
      transferred (ok true)
      violation ERR-TRANSFER-FAILED)
    (match (as-contract? ((with-stx amount))
        (unwrap! (stx-transfer? amount current-contract recipient) ERR-TRANSFER-FAILED))
      transferred (ok true)
      violation ERR-TRANSFER-FAILED)))

;; The principal whose key produced `signature` over `hash`, if any.
(define-private (recover-signer (hash (buff 32)) (signature (buff 65)))
  (match (secp256k1-recover? hash signature)
    public-key (match (principal-of? public-key)
      signer (some signer)
      code none)
    code none))

(define-private (is-role-name (role (string-ascii 8)))
  (or (is-eq role "admin") (is-eq role "guardian") (is-eq role "operator") (is-eq role "signer")))

;; The exit arithmetic below never aborts on a figure a checkpoint put in: a
;; leaf or sum of a faulty checkpoint can be near 2^128, and a runtime overflow
;; there would stop every shutdown, or one provider's claim, for good. So it
;; subtracts before it adds, and a result past 2^128 - 1 (only a faulty
;; checkpoint gets there) saturates instead of aborting.

;; `a + b`, or MAX-UINT when that does not fit.
(define-private (add-saturating (a uint) (b uint))
  (if (> a (- MAX-UINT b)) MAX-UINT (+ a b)))

;; `a - b` as a sign and a magnitude.
(define-private (signed-diff (a uint) (b uint))
  (if (>= a b) { negative: false, size: (- a b) } { negative: true, size: (- b a) }))

;; `base + delta`, floored at 0.
(define-private (add-signed-floor (base uint) (delta { negative: bool, size: uint }))
  (if (get negative delta)
    (if (> base (get size delta)) (- base (get size delta)) u0)
    (add-saturating base (get size delta))))

;; `a + b - c`, floored at 0 (cumulative flows never make a claim negative).
(define-private (add-sub-floor (a uint) (b uint) (c uint))
  (add-signed-floor a (signed-diff b c)))

;; `leaf + (in - leaf-in) - (out - leaf-out)`, floored at 0 only at the end:
;; the flows since the leaf may each run either way on a faulty leaf.
(define-private (owed-since-leaf (leaf uint) (in uint) (leaf-in uint) (out uint) (leaf-out uint))
  (let ((deposits (signed-diff in leaf-in)) (withdrawals (signed-diff leaf-out out)))
    (add-signed-floor leaf
      (if (is-eq (get negative deposits) (get negative withdrawals))
        { negative: (get negative deposits), size: (add-saturating (get size deposits) (get size withdrawals)) }
        (if (>= (get size deposits) (get size withdrawals))
          { negative: (get negative deposits), size: (- (get size deposits) (get size withdrawals)) }
          { negative: (get negative withdrawals), size: (- (get size withdrawals) (get size deposits)) })))))

;; `floor(owed * assets / liabilities)` for `assets < liabilities`. Exact while
;; the product fits 128 bits, which every real token supply does by far. Past
;; that (a faulty checkpoint's figures) the whole multiples of `liabilities`
;; are taken exactly and the rest at reduced precision, rounded down, so a
;; share is never more than its exact value and the claims never more than
;; the assets.
(define-private (pro-rata-share (owed uint) (assets uint) (liabilities uint))
  (if (or (is-eq assets u0) (<= owed (/ MAX-UINT assets)))
    (/ (* owed assets) liabilities)
    (let (
        (rest (mod owed liabilities))
        (scale (+ (/ rest (/ MAX-UINT assets)) u1))
        (scaled-liabilities (+ (/ liabilities scale) (if (> (mod liabilities scale) u0) u1 u0)))
      )
      (+ (* (/ owed liabilities) assets) (/ (* (/ rest scale) assets) scaled-liabilities)))))

;; One step up a Merkle-sum proof: hash the running node with its sibling on
;; the side the proof says. `ok` turns false, and stays false, when a sibling
;; would push a running sum past the checkpoint's (sums only grow up the tree,
;; so such a proof can never match; stopping there also keeps `+` from
;; overflowing on a forged sibling).
(define-private (climb-proof
    (sibling { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool })
    (node { hash: (buff 32), stx: uint, sbtc: uint, ok: bool, max-stx: uint, max-sbtc: uint }))
  (if (and (get ok node)
           (<= (get stx sibling) (- (get max-stx node) (get stx node)))
           (<= (get sbtc sibling) (- (get max-sbtc node) (get sbtc node))))
    (merge node {
      hash: (sha256 (concat NODE-PREFIX (unwrap-panic (to-consensus-buff?
        (if (get is-left sibling)
          { left: (get hash sibling), left-stx: (get stx sibling), left-sbtc: (get sbtc sibling),
            right: (get hash node), right-stx: (get stx node), right-sbtc: (get sbtc node) }
          { left: (get hash node), left-stx: (get stx node), left-sbtc: (get sbtc node),
            right: (get hash sibling), right-stx: (get stx sibling), right-sbtc: (get sbtc sibling) }))))),
      stx: (+ (get stx node) (get stx sibling)),
      sbtc: (+ (get sbtc node) (get sbtc sibling)),
    })
    (merge node { ok: false })))

;; Whether `leaf` of `provider` is in the Merkle-sum tree with this root and sums.
(define-private (proves-leaf
    (provider principal)
    (leaf { stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint })
    (proof (list 32 { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool }))
    (root { root: (buff 32), stx-sum: uint, sbtc-sum: uint }))
  (let (
      (leaf-hash (sha256 (concat LEAF-PREFIX (unwrap-panic (to-consensus-buff? {
        provider: provider,
        stx: (get stx leaf),
        sbtc: (get sbtc leaf),
        stx-in: (get stx-in leaf),
        stx-out: (get stx-out leaf),
        sbtc-in: (get sbtc-in leaf),
        sbtc-out: (get sbtc-out leaf),
      })))))
      (top (fold climb-proof proof {
        hash: leaf-hash,
        stx: (get stx leaf),
        sbtc: (get sbtc leaf),
        ok: (and (<= (get stx leaf) (get stx-sum root)) (<= (get sbtc leaf) (get sbtc-sum root))),
        max-stx: (get stx-sum root),
        max-sbtc: (get sbtc-sum root),
      }))
    )
    (and (get ok top)
         (is-eq (get hash top) (get root root))
         (is-eq (get stx top) (get stx-sum root))
         (is-eq (get sbtc top) (get sbtc-sum root)))))

;; Whether a checkpoint posted at `posted-at` (`none`: no checkpoint) is still
;; inside its veto window.
(define-private (is-vetoable (posted-at (optional uint)))
  (match posted-at
    at (< burn-block-height (+ at CHECKPOINT-VETO-WINDOW))
    false))

;; ---------------------------------------------------------------------------
;; Public functions: roles and configuration
;; ---------------------------------------------------------------------------

(define-public (set-sbtc-token-principal (p principal))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (is-none (get sbtc-token state)) ERR-ALREADY-INITIALIZED)
    ;; The token must be a contract. Any network's version byte is taken: on
    ;; simnet the real sBTC contracts deploy at their mainnet address.
    (asserts!
      (match (principal-destruct? p) parts (is-some (get name parts)) other-network (is-some (get name other-network)))
      ERR-INVALID-TOKEN-CONTRACT)
    (var-set vault (merge state { sbtc-token: (some p) }))
    (print { event: "sbtc-token-principal-set", token: p })
    (ok true)))

;; First step of a role change. The new holder takes over only by accepting,
;; and not before ROLE-DELAY: a mistyped address can never receive the role,
;; and the guardian has a day to cancel a proposal made with a stolen admin key.
(define-public (propose-role (role (string-ascii 8)) (who principal))
  (let (
      (state (var-get vault))
      (eta (+ burn-block-height ROLE-DELAY))
    )
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (is-role-name role) ERR-INVALID-ROLE)
    (map-set pending-roles role { who: who, eta: eta })
    (print { event: "role-proposed", role: role, who: who, eta: eta })
    (ok true)))

(define-public (accept-role (role (string-ascii 8)))
  (let (
      (state (var-get vault))
      (proposal (begin
        (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
        (unwrap! (map-get? pending-roles role) ERR-INVALID-ROLE)))
      (who (get who proposal))
    )
    (asserts! (is-eq contract-caller who) ERR-NOT-AUTHORIZED)
    (asserts! (>= burn-block-height (get eta proposal)) ERR-TIMELOCK)
    (map-delete pending-roles role)
    (var-set vault
      (if (is-eq role "admin") (merge state { admin: who })
      (if (is-eq role "guardian") (merge state { guardian: who })
      (if (is-eq role "operator") (merge state { operator: (some who) })
      (merge state { signer: (some who) })))))
    (print {
      event: "role-set",
      role: role,
      previous:
        (if (is-eq role "admin") (some (get admin state))
        (if (is-eq role "guardian") (some (get guardian state))
        (if (is-eq role "operator") (get operator state)
        (get signer state)))),
      who: who,
    })
    (ok true)))

(define-public (cancel-role (role (string-ascii 8)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-guardian-or-admin (get guardian state) (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (map-delete pending-roles role) ERR-INVALID-ROLE)
    (print { event: "role-cancelled", role: role })
    (ok true)))

;; Instant: the guardian's answer to a stolen hot key. Every voucher and every
;; operator call fails from the next block on; new holders only through
;; propose / accept.
(define-public (revoke-hot-keys)
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-guardian-or-admin (get guardian state) (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { operator: none, signer: none }))
    (print { event: "hot-keys-revoked" })
    (ok true)))

(define-public (pause)
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-guardian-or-admin (get guardian state) (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { paused: true }))
    (print { event: "paused-set", paused: true })
    (ok true)))

;; Admin only: a stolen guardian key can freeze the vault but never reopen it.
(define-public (unpause)
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { paused: false }))
    (print { event: "paused-set", paused: false })
    (ok true)))

(define-public (set-outflow-limit (limit-bps uint) (stx-floor uint) (sbtc-floor uint))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (<= limit-bps BPS-DENOMINATOR) ERR-INVALID-AMOUNT)
    (var-set vault (merge state { limit: { bps: limit-bps, stx-floor: stx-floor, sbtc-floor: sbtc-floor } }))
    (print { event: "outflow-limit-set", limit-bps: limit-bps, stx-floor: stx-floor, sbtc-floor: sbtc-floor })
    (ok true)))

;; ---------------------------------------------------------------------------
;; Public functions: funds in
;; ---------------------------------------------------------------------------

(define-public (deposit-funds (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (is-stx (is-none token-id))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
        (new-balance (+ (get balance pool) amount))
        (flows (get flows state))
        (seq (+ (get seq flows) u1))
        (record (default-to
          { nonce: u0, stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0, created-seq: seq }
          (map-get? provider-records tx-sender)))
      )
      (try! (transfer-in amount token))
      (map-set provider-records tx-sender
        (if is-stx
          (merge record { stx-in: (+ (get stx-in record) amount) })
          (merge record { sbtc-in: (+ (get sbtc-in record) amount) })))
      (var-set vault (merge (merge state (pools-with token-id (merge pool { balance: new-balance }) (get stx state) (get sbtc state))) {
        flows: (if is-stx
          (merge flows { seq: seq, stx-in: (+ (get stx-in flows) amount) })
          (merge flows { seq: seq, sbtc-in: (+ (get sbtc-in flows) amount) })),
      }))
      (print {
        event: "funds-deposited",
        depositor: tx-sender,
        token: token-id,
        amount: amount,
        seq: seq,
        total-balance: new-balance,
        total-locked: (get locked pool),
      })
      (ok true))))

(define-public (pay-premium (policy-id uint) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
        (new-balance (+ (get balance pool) amount))
      )
      (try! (transfer-in amount token))
      (var-set vault (merge state (pools-with token-id (merge pool { balance: new-balance }) (get stx state) (get sbtc state))))
      (print {
        event: "premium-paid",
        policy-id: policy-id,
        payer: tx-sender,
        token: token-id,
        amount: amount,
        total-balance: new-balance,
        total-locked: (get locked pool),
      })
      (ok true))))

;; ---------------------------------------------------------------------------
;; Public functions: collateral (operator only)
;; ---------------------------------------------------------------------------

(define-public (lock-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-operator (get operator state)) ERR-NOT-AUTHORIZED)
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
        (new-locked (+ (get locked pool) amount))
      )
      (asserts! (<= new-locked (get balance pool)) ERR-LOCK-AMOUNT-EXCEEDS-AVAILABLE)
      (var-set vault (merge state (pools-with token-id (merge pool { locked: new-locked }) (get stx state) (get sbtc state))))
      (print {
        event: "collateral-locked",
        policy-ids: policy-ids,
        token: token-id,
        amount: amount,
        total-balance: (get balance pool),
        total-locked: new-locked,
      })
      (ok true))))

;; Not stopped by a pause: releasing collateral only ever frees funds.
(define-public (release-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-operator (get operator state)) ERR-NOT-AUTHORIZED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
      )
      (asserts! (<= amount (get locked pool)) ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED)
      (var-set vault (merge state (pools-with token-id (merge pool { locked: (- (get locked pool) amount) }) (get stx state) (get sbtc state))))
      (print {
        event: "collateral-released",
        policy-ids: policy-ids,
        token: token-id,
        amount: amount,
        total-balance: (get balance pool),
        total-locked: (- (get locked pool) amount),
      })
      (ok true))))

;; Pays a policy's buyer out of locked collateral. Not stopped by a pause, so
;; policyholders are paid even while the vault is frozen, but bounded by the
;; outflow window like withdrawals: a stolen operator key can lock everything,
;; yet settle at most one window's cap to itself.
(define-public (settle-policy (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-operator (get operator state)) ERR-NOT-AUTHORIZED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
      )
      ;; Settlement draws on locked collateral only, never on free balance.
      (asserts! (<= amount (get locked pool)) ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED)
      (let ((drawn (try! (draw-outflow token-id pool (get limit state) amount))))
        (try! (transfer-out amount buyer token token-id))
        (var-set vault (merge state (pools-with token-id (merge drawn { locked: (- (get locked pool) amount) }) (get stx state) (get sbtc state))))
        (print {
          event: "settlement-paid",
          policy-id: policy-id,
          buyer: buyer,
          token: token-id,
          amount: amount,
          total-balance: (get balance drawn),
          total-locked: (- (get locked pool) amount),
        })
        (ok true)))))

;; ---------------------------------------------------------------------------
;; Public functions: funds out (voucher holders)
;; ---------------------------------------------------------------------------

;; Redeems a withdrawal voucher. The backend signs one only after checking the
;; provider's off-chain available balance and collateral health; the vault
;; checks that the voucher is genuine (the current signer, this vault, this
;; caller, amount and token), unexpired, newer than the provider's last one,
;; that no locked collateral leaves and that the outflow window has room.
(define-public (withdraw-funds (amount uint) (token (optional <sip-010-trait>)) (nonce uint) (expires-at uint) (signature (buff 65)))
  (let ((state (var-get vault)))
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (is-stx (is-none token-id))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
        (flows (get flows state))
        (seq (+ (get seq flows) u1))
        (record (default-to
          { nonce: u0, stx-in: u0, stx-out: u0, sbtc-in: u0, sbtc-out: u0, created-seq: seq }
          (map-get? provider-records tx-sender)))
      )
      ;; The signer first: a voucher the signer never signed is a forgery
      ;; (u211), whatever its expiry or nonce say. After `revoke-hot-keys`
      ;; there is no signer and no voucher is genuine.
      (asserts!
        (match (get signer state)
          signer (is-eq
            (recover-signer (get-withdrawal-voucher-hash tx-sender amount token-id nonce expires-at) signature)
            (some signer))
          false)
        ERR-INVALID-SIGNATURE)
      (asserts! (<= stacks-block-height expires-at) ERR-VOUCHER-EXPIRED)
      ;; Nonces only go up: redeeming one voids every earlier voucher.
      (asserts! (> nonce (get nonce record)) ERR-VOUCHER-USED)
      (asserts! (<= amount (- (get balance pool) (get locked pool))) ERR-INSUFFICIENT-BALANCE)
      (let ((drawn (try! (draw-outflow token-id pool (get limit state) amount))))
        (try! (transfer-out amount tx-sender token token-id))
        (map-set provider-records tx-sender
          (if is-stx
            (merge record { nonce: nonce, stx-out: (+ (get stx-out record) amount) })
            (merge record { nonce: nonce, sbtc-out: (+ (get sbtc-out record) amount) })))
        (var-set vault (merge (merge state (pools-with token-id drawn (get stx state) (get sbtc state))) {
          flows: (if is-stx
            (merge flows { seq: seq, stx-out: (+ (get stx-out flows) amount) })
            (merge flows { seq: seq, sbtc-out: (+ (get sbtc-out flows) amount) })),
        }))
        (print {
          event: "funds-withdrawn",
          provider: tx-sender,
          token: token-id,
          amount: amount,
          nonce: nonce,
          seq: seq,
          total-balance: (get balance drawn),
          total-locked: (get locked pool),
        })
        (ok true)))))

;; ---------------------------------------------------------------------------
;; Public functions: checkpoints (operator posts, guardian vetoes)
;; ---------------------------------------------------------------------------

;; Commits the off-chain books as of flow `as-of-seq`: a Merkle-sum tree with
;; one leaf per provider record. Only one checkpoint is ever inside its veto
;; window, so a veto always falls back to one that has already stood.
(define-public (post-checkpoint (root (buff 32)) (stx-sum uint) (sbtc-sum uint) (as-of-seq uint) (flows { stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }) (leaf-count uint))
  (let (
      (state (var-get vault))
      (now-flows (get flows state))
      (book (var-get checkpoints))
      (epoch (+ (get last-epoch book) u1))
    )
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-operator (get operator state)) ERR-NOT-AUTHORIZED)
    (asserts! (and
        (<= as-of-seq (get seq now-flows))
        (<= (get stx-in flows) (get stx-in now-flows))
        (<= (get stx-out flows) (get stx-out now-flows))
        (<= (get sbtc-in flows) (get sbtc-in now-flows))
        (<= (get sbtc-out flows) (get sbtc-out now-flows))
        (>= leaf-count u1)
        (not (is-vetoable (get posted-at (get current book)))))
      ERR-INVALID-CHECKPOINT)
    (var-set checkpoints {
      current: (some {
        epoch: epoch, root: root, stx-sum: stx-sum, sbtc-sum: sbtc-sum, as-of-seq: as-of-seq,
        flows: flows, leaf-count: leaf-count, posted-at: burn-block-height,
      }),
      previous: (get current book),
      last-epoch: epoch,
      exit-terms: (get exit-terms book),
    })
    (print {
      event: "checkpoint-posted",
      epoch: epoch,
      root: root,
      stx-sum: stx-sum,
      sbtc-sum: sbtc-sum,
      as-of-seq: as-of-seq,
      flows: flows,
      leaf-count: leaf-count,
    })
    (ok true)))

(define-public (veto-checkpoint)
  (let (
      (state (var-get vault))
      (book (var-get checkpoints))
    )
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-guardian-or-admin (get guardian state) (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (is-vetoable (get posted-at (get current book))) ERR-INVALID-CHECKPOINT)
    (let ((current (unwrap-panic (get current book))))
    ;; The restored checkpoint stood through its own window: it is not vetoable.
    (var-set checkpoints (merge book { current: (get previous book), previous: none }))
    (print { event: "checkpoint-vetoed", epoch: (get epoch current) })
    (ok true))))

;; Puts the current checkpoint's leaves on chain, in published order, so that
;; anyone can rebuild the tree and every provider their proof from events
;; alone. Changes no state.
(define-public (publish-leaves (epoch uint) (offset uint) (leaves (list 100 { provider: principal, stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint })))
  (let (
      (state (var-get vault))
      (current (var-get checkpoints))
    )
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    (asserts! (is-operator (get operator state)) ERR-NOT-AUTHORIZED)
    (asserts! (match (get current current) posted (is-eq epoch (get epoch posted)) false) ERR-INVALID-CHECKPOINT)
    (print { event: "checkpoint-leaves", epoch: epoch, offset: offset, leaves: leaves })
    (ok true)))

;; ---------------------------------------------------------------------------
;; Public functions: shutdown and exit
;; ---------------------------------------------------------------------------

;; Ends the vault: the admin at any time, anyone once the backend has been
;; silent for SILENCE burn blocks since the current checkpoint (or deployment).
;; Fixes what each token holds and owes, so every claim gets the same share.
(define-public (shutdown)
  (let (
      (state (var-get vault))
      (book (var-get checkpoints))
      (current (get current book))
      (flows (get flows state))
      (silent-since (match current posted (get posted-at posted) DEPLOYED-AT))
    )
    (asserts! (not (get shut-down state)) ERR-SHUT-DOWN)
    ;; A checkpoint that may still be vetoed cannot be what claims rely on.
    (asserts! (not (is-vetoable (get posted-at current))) ERR-INVALID-CHECKPOINT)
    (asserts!
      (or (is-eq contract-caller (get admin state)) (> burn-block-height (+ silent-since SILENCE)))
      ERR-NOT-AUTHORIZED)
    (let (
        (terms (match current
          posted {
            ;; The books as of the checkpoint, moved by every flow since.
            stx-liabilities: (add-sub-floor
              (get stx-sum posted)
              (- (get stx-in flows) (get stx-in (get flows posted)))
              (- (get stx-out flows) (get stx-out (get flows posted)))),
            sbtc-liabilities: (add-sub-floor
              (get sbtc-sum posted)
              (- (get sbtc-in flows) (get sbtc-in (get flows posted)))
              (- (get sbtc-out flows) (get sbtc-out (get flows posted)))),
          }
          {
            stx-liabilities: (add-sub-floor (get stx-in flows) u0 (get stx-out flows)),
            sbtc-liabilities: (add-sub-floor (get sbtc-in flows) u0 (get sbtc-out flows)),
          }))
        (stx-assets (get balance (get stx state)))
        (sbtc-assets (get balance (get sbtc state)))
      )
      (var-set checkpoints (merge book { exit-terms: (some {
        stx-assets: stx-assets,
        stx-liabilities: (get stx-liabilities terms),
        sbtc-assets: sbtc-assets,
        sbtc-liabilities: (get sbtc-liabilities terms),
      }) }))
      ;; Policies are over: locked collateral is part of what providers claim.
      (var-set vault (merge state {
        shut-down: true,
        stx: (merge (get stx state) { locked: u0 }),
        sbtc: (merge (get sbtc state) { locked: u0 }),
      }))
      (print {
        event: "shutdown",
        by: contract-caller,
        stx-assets: stx-assets,
        stx-liabilities: (get stx-liabilities terms),
        sbtc-assets: sbtc-assets,
        sbtc-liabilities: (get sbtc-liabilities terms),
      })
      (ok true))))

;; A provider's way out after shutdown, needing nothing but a node: their leaf
;; in the current checkpoint (with its proof), moved by their deposits and
;; withdrawals since; or, for a record newer than the checkpoint (or with no
;; checkpoint at all), their deposits less withdrawals. Paid in full when the
;; vault holds enough, else the same pro-rata share for everyone.
(define-public (claim-exit
    (token (optional <sip-010-trait>))
    (leaf (optional { stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint }))
    (proof (list 32 { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool })))
  (let (
      (state (var-get vault))
      (book (var-get checkpoints))
      (terms (unwrap! (get exit-terms book) ERR-NOT-SHUT-DOWN))
      (token-id (try! (resolve-token token (get sbtc-token state))))
      (is-stx (is-none token-id))
      (provider tx-sender)
      (record (unwrap! (map-get? provider-records provider) ERR-INVALID-PROOF))
      (claim-key { provider: provider, sbtc: (not is-stx) })
      (current (get current book))
      (in (if is-stx (get stx-in record) (get sbtc-in record)))
      (out (if is-stx (get stx-out record) (get sbtc-out record)))
    )
    (asserts! (is-none (map-get? exit-claims claim-key)) ERR-ALREADY-CLAIMED)
    (let (
        (owed (match leaf
          proven (let ((checkpoint (unwrap! current ERR-INVALID-PROOF)))
            (asserts! (proves-leaf provider proven proof
              { root: (get root checkpoint), stx-sum: (get stx-sum checkpoint), sbtc-sum: (get sbtc-sum checkpoint) })
              ERR-INVALID-PROOF)
            (owed-since-leaf
              (if is-stx (get stx proven) (get sbtc proven))
              in (if is-stx (get stx-in proven) (get sbtc-in proven))
              out (if is-stx (get stx-out proven) (get sbtc-out proven))))
          (begin
            (asserts! (match current posted (> (get created-seq record) (get as-of-seq posted)) true) ERR-INVALID-PROOF)
            (add-sub-floor in u0 out))))
        (assets (if is-stx (get stx-assets terms) (get sbtc-assets terms)))
        (liabilities (if is-stx (get stx-liabilities terms) (get sbtc-liabilities terms)))
        (share (if (>= assets liabilities) owed (pro-rata-share owed assets liabilities)))
        (pool (if (is-none token-id) (get stx state) (get sbtc state)))
        (paid (if (> share (get balance pool)) (get balance pool) share))
      )
      (map-set exit-claims claim-key paid)
      (if (> paid u0)
        (begin
          (try! (transfer-out paid provider token token-id))
          (var-set vault (merge state (pools-with token-id (merge pool { balance: (- (get balance pool) paid) }) (get stx state) (get sbtc state)))))
        true)
      (print { event: "exit-claimed", provider: provider, token: token-id, owed: owed, paid: paid })
      (ok paid))))

;; ---------------------------------------------------------------------------
;; Read-only functions
;; ---------------------------------------------------------------------------

(define-read-only (get-total-stx-balance) (get balance (get stx (var-get vault))))
(define-read-only (get-total-sbtc-balance) (get balance (get sbtc (var-get vault))))
(define-read-only (get-total-stx-locked) (get locked (get stx (var-get vault))))
(define-read-only (get-total-sbtc-locked) (get locked (get sbtc (var-get vault))))
(define-read-only (get-sbtc-token-principal) (get sbtc-token (var-get vault)))
(define-read-only (is-paused) (get paused (var-get vault)))
(define-read-only (is-shut-down) (get shut-down (var-get vault)))

(define-read-only (get-roles)
  (let ((state (var-get vault)))
    { admin: (get admin state), guardian: (get guardian state), operator: (get operator state), signer: (get signer state) }))

(define-read-only (get-pending-role (role (string-ascii 8))) (map-get? pending-roles role))

(define-read-only (get-outflow (token (optional principal)))
  (let (
      (state (var-get vault))
      (limit (get limit state))
      (window (if (is-none token)
        (outflow-view (get stx state) (get bps limit) (get stx-floor limit) burn-block-height)
        (outflow-view (get sbtc state) (get bps limit) (get sbtc-floor limit) burn-block-height)))
    )
    {
      window-start: (get window-start window),
      used: (get used window),
      cap: (get cap window),
      available: (if (> (get cap window) (get used window)) (- (get cap window) (get used window)) u0),
    }))

(define-read-only (get-provider-record (provider principal)) (map-get? provider-records provider))

(define-read-only (get-flows) (get flows (var-get vault)))

(define-read-only (get-checkpoint) (get current (var-get checkpoints)))

(define-read-only (verify-exit-proof
    (provider principal)
    (leaf { stx: uint, sbtc: uint, stx-in: uint, stx-out: uint, sbtc-in: uint, sbtc-out: uint })
    (proof (list 32 { hash: (buff 32), stx: uint, sbtc: uint, is-left: bool })))
  (match (get current (var-get checkpoints))
    checkpoint (proves-leaf provider leaf proof
      { root: (get root checkpoint), stx-sum: (get stx-sum checkpoint), sbtc-sum: (get sbtc-sum checkpoint) })
    false))

;; Per token, what the vault held and owed when it shut down; `none` before.
(define-read-only (get-exit-terms) (get exit-terms (var-get checkpoints)))

;; What `claim-exit` paid a provider for a token (`none` = not claimed yet).
(define-read-only (get-exit-claim (provider principal) (token (optional principal)))
  (map-get? exit-claims { provider: provider, sbtc: (is-some token) }))

;; SIP-018 hash of a withdrawal voucher:
;; sha256("SIP018" || sha256(consensus(domain)) || sha256(consensus(message))).
(define-read-only (get-withdrawal-voucher-hash (provider principal) (amount uint) (token (optional principal)) (nonce uint) (expires-at uint))
  (sha256 (concat SIP018-PREFIX (concat VOUCHER-DOMAIN-HASH (sha256 (unwrap-panic (to-consensus-buff? {
    action: "withdraw",
    vault: current-contract,
    provider: provider,
    token: token,
    amount: amount,
    nonce: nonce,
    expires-at: expires-at,
  })))))))
