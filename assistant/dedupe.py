"""Template-aware deduplication: speeches reuse paragraphs nearly word for word.

Near-duplicates are found with MinHash LSH over jieba word 3-shingles and confirmed
with the exact Jaccard similarity, then grouped (union-find), so a search shows one
representative per group with "另见 N 处". Shingles of words rather than characters
keep two paragraphs that merely share a stock phrase apart.
"""
from __future__ import annotations

from typing import Sequence


def shingles(words: Sequence[str], n: int = 3) -> set[str]:
    if len(words) < n:
        return {"\u0001".join(words)} if words else set()
    return {"\u0001".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def template_groups(word_lists: Sequence[Sequence[str]], threshold: float = 0.8) -> list[int]:
    """Group id per passage: passages whose shingle Jaccard >= threshold share a group.

    The group id is the index of the group's first passage, so singletons keep their own index.
    """
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(list(w)) for w in word_lists]
    parent = list(range(len(sets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # LSH recall is tuned a little below the threshold; exact Jaccard then decides
    lsh = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=64)
    hashes = []
    for i, s in enumerate(sets):
        m = MinHash(num_perm=64, seed=7)
        for sh in s:
            m.update(sh.encode("utf-8"))
        hashes.append(m)
        if s:
            lsh.insert(str(i), m)
    for i, s in enumerate(sets):
        if not s:
            continue
        for j in map(int, lsh.query(hashes[i])):
            if j > i and jaccard(s, sets[j]) >= threshold:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(sets))]
