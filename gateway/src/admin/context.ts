// What the admin sub-apps share with the rest of the app: the API-key cache (cleared when
// a key changes, so this host enforces it at once) and the placement reconciler.
import type { KeyCache } from '../auth/key-cache.ts';
import type { Reconciler } from '../nodes/reconcile.ts';

export interface AdminContext {
  keyCache: KeyCache;
  reconciler: Reconciler;
}
