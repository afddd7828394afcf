/* The search indexer: one background thread that moves the orders an import
 * has added to order_search_backlog into order_search (migration 0009) just
 * after the import commits, and once a minute anyway (orders left behind by
 * a crash, or by another instance's import). Search covers the backlog
 * meanwhile, so this only decides how soon the trigram indexes hold them. */
#ifndef DELIVERYD_SEARCH_INDEXER_H
#define DELIVERYD_SEARCH_INDEXER_H

/** Starts the thread (which drains once at start). 0, or -1 if it cannot. */
int search_indexer_start(void);

/** Asks for a drain now; cheap, callable from any thread, a no-op when the
 * indexer does not run (the CLI). */
void search_indexer_kick(void);

/** Stops the thread after the drain transaction in progress, if any (a
 * long backlog is left for the next start). */
void search_indexer_stop(void);

#endif
