// What the admin sub-apps share with the rest of the app: the API-key cache (cleared when
// a key changes, so this host enforces it at once), the placement reconciler, and the
// router's live figures (circuit breakers shown with the instances).
import type { KeyCache } from '../auth/key-cache.ts';
import type { Limiter } from '../limits/limiter.ts';
import type { PriceBook } from '../limits/prices.ts';
import type { Reconciler } from '../control-plane/reconcile.ts';
import type { LiveStats } from '../routing/live.ts';
import type { SessionKeys } from '../console/session-keys.ts';

export interface AdminContext {
  keyCache: KeyCache;
  reconciler: Reconciler;
  live: LiveStats;
  // Cleared when a price changes; the limiter answers a key's standing (GET keys/ID).
  prices: PriceBook;
  limiter: Limiter;
  // Console sessions' codec (signing and CSRF), made from the host's session secret.
  sessions: SessionKeys;
}
