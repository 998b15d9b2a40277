/**
 * The bounds on a commitment (convex/domain/commitments.ts): positive, never
 * more than the token's supply, and within the per-provider maximum counting
 * what the provider already holds.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";

import { commitmentRefusal, TOKEN_SUPPLY_CAP } from "../../convex/domain/commitments";
import { TOKENS } from "../../convex/domain/vocabulary";

const tokenArb = fc.constantFrom(...TOKENS);

describe("commitmentRefusal", () => {
  test("the supply caps are 1.818 billion STX in µSTX and 21 million BTC in sats", () => {
    expect(TOKEN_SUPPLY_CAP).toEqual({ STX: 1_818_000_000_000_000n, sBTC: 2_100_000_000_000_000n });
  });

  test("without a maximum, exactly the amounts from 1 to the supply are accepted", () => {
    fc.assert(
      fc.property(tokenArb, fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (token, amount) => {
        const refusal = commitmentRefusal(amount, token, 0n, {});
        const accepted = amount >= 1n && amount <= TOKEN_SUPPLY_CAP[token];
        expect(refusal === null).toBe(accepted);
        if (refusal) expect(refusal.data.code).toBe("INVALID_AMOUNT");
      }),
    );
  });

  test("with a maximum, accepted exactly when what the provider holds plus the amount stays within it; the message says how much fits", () => {
    fc.assert(
      fc.property(
        tokenArb,
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        (token, amount, held, max) => {
          const refusal = commitmentRefusal(amount, token, held, { [token]: max });
          if (held + amount <= max) {
            expect(refusal).toBeNull();
            return;
          }
          const unit = token === "STX" ? "µSTX" : "sats";
          expect(refusal?.data).toEqual({
            code: "PROVIDER_LIMIT_EXCEEDED",
            message: `a provider may hold at most ${max} ${unit} in the pool; you hold ${held} ${unit}, so at most ${max > held ? max - held : 0n} ${unit} more fits`,
          });
        },
      ),
    );
  });

  test("a maximum for one token does not bound the other", () => {
    expect(commitmentRefusal(10n ** 12n, "sBTC", 0n, { STX: 1n })).toBeNull();
    expect(commitmentRefusal(2n, "STX", 0n, { STX: 1n })?.data.code).toBe("PROVIDER_LIMIT_EXCEEDED");
  });
});
