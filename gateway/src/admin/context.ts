// What the admin sub-apps share with the rest of the app: the API-key cache (cleared when
// a key changes, so this host enforces it at once) and the placement reconciler.
import type { KeyCache } from '../auth/key-cache.ts';
import type { Reconciler } from '../control-plane/reconcile.ts';

export interface AdminContext {
  keyCache: KeyCache;
  reconciler: Reconciler;
}
