;; sbtc-token: a local stand-in for the sBTC SIP-010 token.
;;
;; Deployed on simnet and devnet only (never mainnet, where the vault is pointed
;; at the real sBTC contract). It mirrors the parts of the real token the vault
;; relies on: the fungible-token asset name `sbtc-token` (the vault's asset
;; allowance names it), 8 decimals, and `transfer` with a memo that accepts
;; either tx-sender or contract-caller as the sender. Minting is limited to the
;; deployer, playing the role of the sBTC bridge.

(impl-trait .sip-010-trait.sip-010-trait)

(define-constant ERR-NOT-OWNER (err u4))
(define-constant ERR-NOT-MINTER (err u401))

(define-constant MINTER tx-sender)

(define-fungible-token sbtc-token)

;; A deployment guard: on mainnet this panics at deploy time, so the stand-in
;; can never be published where the real sBTC token lives.
(unwrap-panic (if is-in-mainnet none (some true)))

(define-public (transfer (amount uint) (sender principal) (recipient principal) (memo (optional (buff 34))))
  (begin
    (asserts! (or (is-eq tx-sender sender) (is-eq contract-caller sender)) ERR-NOT-OWNER)
    (try! (ft-transfer? sbtc-token amount sender recipient))
    (match memo to-print (print to-print) 0x)
    (ok true)))

(define-public (mint (amount uint) (recipient principal))
  (begin
    (asserts! (is-eq tx-sender MINTER) ERR-NOT-MINTER)
    (ft-mint? sbtc-token amount recipient)))

(define-read-only (get-name) (ok "sBTC"))
(define-read-only (get-symbol) (ok "sBTC"))
(define-read-only (get-decimals) (ok u8))
(define-read-only (get-balance (who principal)) (ok (ft-get-balance sbtc-token who)))
(define-read-only (get-total-supply) (ok (ft-get-supply sbtc-token)))
(define-read-only (get-token-uri) (ok none))
