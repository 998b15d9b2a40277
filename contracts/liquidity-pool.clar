;; liquidity-pool: the BitHedge liquidity pool vault.
;;
;; Holds the pooled STX and sBTC collateral of the liquidity providers. The
;; vault keeps aggregate totals only (balance and locked, per token); every
;; per-provider figure lives off-chain in the Convex backend, which keeps itself
;; in step with the vault through the events printed here.
;;
;; Trust model:
;; - anyone may deposit and pay premiums;
;; - a withdrawal needs a SIP-018 voucher signed by the backend key for this
;;   provider, amount, token and nonce (closing the spec's "off-chain validation
;;   only" hole: the chain is public, so the vault itself must refuse a drain);
;; - only the backend principal may lock, release and settle collateral;
;; - only the admin may configure, pause and hand over administration.
;; Withdrawals can never take collateral that is locked for policies, and while
;; paused only releases and settlements run, so policyholders are still paid.

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

;; Asset name of the fungible token inside the sBTC contract; the outgoing
;; asset allowance names it so that no other asset can ever leave the vault.
(define-constant SBTC-ASSET-NAME "sbtc-token")

;; SIP-018 structured-data prefix ("SIP018") and the hash of this vault's
;; signing domain. `chain-id` ties a voucher to one network.
(define-constant SIP018-PREFIX 0x534950303138)
(define-constant VOUCHER-DOMAIN-HASH
  (sha256 (unwrap-panic (to-consensus-buff?
    { name: "bithedge-liquidity-pool", version: "1", chain-id: chain-id }))))

(define-constant EMPTY-TOTALS { balance: u0, locked: u0 })

;; ---------------------------------------------------------------------------
;; Data
;; ---------------------------------------------------------------------------

;; The whole vault configuration and both tokens' totals in one value. Read
;; count is the cost dimension that fills a Stacks block first, so every public
;; function reads this once and writes it at most once (see README "Contract
;; costs"). Invariant per token: locked <= balance <= the vault's real holding.
(define-data-var vault
  {
    admin: principal,
    backend: principal,
    ;; `none` until the admin points the vault at the sBTC contract (once).
    sbtc-token: (optional principal),
    paused: bool,
    stx: { balance: uint, locked: uint },
    sbtc: { balance: uint, locked: uint },
  }
  {
    admin: tx-sender,
    backend: tx-sender,
    sbtc-token: none,
    paused: false,
    stx: EMPTY-TOTALS,
    sbtc: EMPTY-TOTALS,
  })

;; Withdrawal voucher nonces already redeemed. Global, not per provider: the
;; backend draws nonces from one space.
(define-map used-voucher-nonces uint bool)

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

(define-private (totals-of (token-id (optional principal)) (state { admin: principal, backend: principal, sbtc-token: (optional principal), paused: bool, stx: { balance: uint, locked: uint }, sbtc: { balance: uint, locked: uint } }))
  (if (is-none token-id) (get stx state) (get sbtc state)))

(define-private (store-totals (token-id (optional principal)) (totals { balance: uint, locked: uint }) (state { admin: principal, backend: principal, sbtc-token: (optional principal), paused: bool, stx: { balance: uint, locked: uint }, sbtc: { balance: uint, locked: uint } }))
  (var-set vault (if (is-none token-id) (merge state { stx: totals }) (merge state { sbtc: totals }))))

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

;; ---------------------------------------------------------------------------
;; Public functions: administration
;; ---------------------------------------------------------------------------

;; Administrative and backend checks use `contract-caller`, so a key holder
;; tricked into calling some other contract cannot be made to act through it.

(define-public (set-sbtc-token-principal (p principal))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (asserts! (is-none (get sbtc-token state)) ERR-ALREADY-INITIALIZED)
    ;; The token must be a contract on this network.
    (asserts!
      (match (principal-destruct? p) parts (is-some (get name parts)) wrong-network false)
      ERR-INVALID-TOKEN-CONTRACT)
    (var-set vault (merge state { sbtc-token: (some p) }))
    (print { event: "sbtc-token-principal-set", token: p })
    (ok true)))

(define-public (set-backend-principal (p principal))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { backend: p }))
    (print { event: "backend-principal-set", previous: (get backend state), backend: p })
    (ok true)))

(define-public (set-paused (pause bool))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { paused: pause }))
    (print { event: "paused-set", paused: pause })
    (ok true)))

(define-public (set-contract-admin (p principal))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get admin state)) ERR-NOT-AUTHORIZED)
    (var-set vault (merge state { admin: p }))
    (print { event: "contract-admin-set", previous: (get admin state), admin: p })
    (ok true)))

;; ---------------------------------------------------------------------------
;; Public functions: funds in
;; ---------------------------------------------------------------------------

(define-public (deposit-funds (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
        (new-balance (+ (get balance totals) amount))
      )
      (try! (transfer-in amount token))
      (store-totals token-id (merge totals { balance: new-balance }) state)
      (print {
        event: "funds-deposited",
        depositor: tx-sender,
        token: token-id,
        amount: amount,
        total-balance: new-balance,
        total-locked: (get locked totals),
      })
      (ok true))))

(define-public (pay-premium (policy-id uint) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
        (new-balance (+ (get balance totals) amount))
      )
      (try! (transfer-in amount token))
      (store-totals token-id (merge totals { balance: new-balance }) state)
      (print {
        event: "premium-paid",
        policy-id: policy-id,
        payer: tx-sender,
        token: token-id,
        amount: amount,
        total-balance: new-balance,
        total-locked: (get locked totals),
      })
      (ok true))))

;; ---------------------------------------------------------------------------
;; Public functions: collateral (backend only)
;; ---------------------------------------------------------------------------

(define-public (lock-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get backend state)) ERR-NOT-AUTHORIZED)
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
        (new-locked (+ (get locked totals) amount))
      )
      (asserts! (<= new-locked (get balance totals)) ERR-LOCK-AMOUNT-EXCEEDS-AVAILABLE)
      (store-totals token-id (merge totals { locked: new-locked }) state)
      (print {
        event: "collateral-locked",
        policy-ids: policy-ids,
        token: token-id,
        amount: amount,
        total-balance: (get balance totals),
        total-locked: new-locked,
      })
      (ok true))))

;; Not stopped by a pause: releasing collateral only ever frees funds.
(define-public (release-collateral-aggregate (policy-ids (list 50 uint)) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get backend state)) ERR-NOT-AUTHORIZED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
      )
      (asserts! (<= amount (get locked totals)) ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED)
      (store-totals token-id (merge totals { locked: (- (get locked totals) amount) }) state)
      (print {
        event: "collateral-released",
        policy-ids: policy-ids,
        token: token-id,
        amount: amount,
        total-balance: (get balance totals),
        total-locked: (- (get locked totals) amount),
      })
      (ok true))))

;; Pays a policy's buyer out of locked collateral. Not stopped by a pause, so
;; policyholders are paid even while the vault is frozen.
(define-public (settle-policy (policy-id uint) (buyer principal) (amount uint) (token (optional <sip-010-trait>)))
  (let ((state (var-get vault)))
    (asserts! (is-eq contract-caller (get backend state)) ERR-NOT-AUTHORIZED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
      )
      ;; Settlement draws on locked collateral only, never on free balance.
      (asserts! (<= amount (get locked totals)) ERR-UNLOCK-AMOUNT-EXCEEDS-LOCKED)
      (let ((new-totals { balance: (- (get balance totals) amount), locked: (- (get locked totals) amount) }))
        (try! (transfer-out amount buyer token token-id))
        (store-totals token-id new-totals state)
        (print {
          event: "settlement-paid",
          policy-id: policy-id,
          buyer: buyer,
          token: token-id,
          amount: amount,
          total-balance: (get balance new-totals),
          total-locked: (get locked new-totals),
        })
        (ok true)))))

;; ---------------------------------------------------------------------------
;; Public functions: funds out (voucher holders)
;; ---------------------------------------------------------------------------

;; Redeems a withdrawal voucher. The backend signs one only after checking the
;; provider's off-chain available balance and collateral health; the vault
;; checks that the voucher is genuine, meant for this caller, amount and token,
;; unexpired and unused, and that no locked collateral leaves.
(define-public (withdraw-funds (amount uint) (token (optional <sip-010-trait>)) (nonce uint) (expires-at uint) (signature (buff 65)))
  (let ((state (var-get vault)))
    (asserts! (not (get paused state)) ERR-PAUSED)
    (asserts! (> amount u0) ERR-INVALID-AMOUNT)
    (let (
        (token-id (try! (resolve-token token (get sbtc-token state))))
        (totals (totals-of token-id state))
      )
      (asserts! (<= stacks-block-height expires-at) ERR-VOUCHER-EXPIRED)
      (asserts! (is-none (map-get? used-voucher-nonces nonce)) ERR-VOUCHER-USED)
      (asserts!
        (is-eq
          (recover-signer (get-withdrawal-voucher-hash tx-sender amount token-id nonce expires-at) signature)
          (some (get backend state)))
        ERR-INVALID-SIGNATURE)
      (asserts! (<= amount (- (get balance totals) (get locked totals))) ERR-INSUFFICIENT-BALANCE)
      (map-set used-voucher-nonces nonce true)
      (try! (transfer-out amount tx-sender token token-id))
      (store-totals token-id (merge totals { balance: (- (get balance totals) amount) }) state)
      (print {
        event: "funds-withdrawn",
        provider: tx-sender,
        token: token-id,
        amount: amount,
        nonce: nonce,
        total-balance: (- (get balance totals) amount),
        total-locked: (get locked totals),
      })
      (ok true))))

;; ---------------------------------------------------------------------------
;; Read-only functions
;; ---------------------------------------------------------------------------

(define-read-only (get-total-stx-balance) (get balance (get stx (var-get vault))))
(define-read-only (get-total-sbtc-balance) (get balance (get sbtc (var-get vault))))
(define-read-only (get-total-stx-locked) (get locked (get stx (var-get vault))))
(define-read-only (get-total-sbtc-locked) (get locked (get sbtc (var-get vault))))
(define-read-only (get-sbtc-token-principal) (get sbtc-token (var-get vault)))
(define-read-only (get-backend-principal) (get backend (var-get vault)))
(define-read-only (get-contract-admin) (get admin (var-get vault)))
(define-read-only (is-paused) (get paused (var-get vault)))
(define-read-only (is-voucher-used (nonce uint)) (is-some (map-get? used-voucher-nonces nonce)))

;; SIP-018 hash of a withdrawal voucher:
;; sha256("SIP018" || sha256(consensus(domain)) || sha256(consensus(message))).
(define-read-only (get-withdrawal-voucher-hash (provider principal) (amount uint) (token (optional principal)) (nonce uint) (expires-at uint))
  (sha256 (concat SIP018-PREFIX (concat VOUCHER-DOMAIN-HASH (sha256 (unwrap-panic (to-consensus-buff? {
    action: "withdraw",
    provider: provider,
    token: token,
    amount: amount,
    nonce: nonce,
    expires-at: expires-at,
  })))))))
