import Model

/// Prompt + completion sequences laid out for one training pass (RL or SFT). Consecutive
/// sequences with the same prompt, an RL group, share one copy of it: each group is one row
/// of a `TokenBatch.sharedPrefix` batch, [prompt][completion 1][completion 2]…, so the
/// prompt's rows are computed once per group, not once per sample. A completion's last token
/// predicts nothing and is left out; its first token is predicted by the prompt's last row,
/// which is therefore listed once per completion in `logitRows`.
struct CompletionBatch {
    let tokens: TokenBatch
    /// Row of the batch whose next-token logits predict each completion token, member by
    /// member, token by token; `labels` and `tokenOf` are aligned with it.
    let logitRows: [Int]
    let labels: [Int]
    /// Which (member, completion token) each logit row is for.
    let tokenOf: [(member: Int, index: Int)]

    init(prompts: [[Int]], completions: [[Int]]) {
        precondition(prompts.count == completions.count, "one prompt per completion")
        precondition(prompts.allSatisfy { !$0.isEmpty }, "a completion needs a prompt token to be predicted from")
        var groups: [(prefix: [Int], branches: [[Int]], members: [Int])] = []
        for (i, prompt) in prompts.enumerated() {
            let branch = Array(completions[i].dropLast())
            if let last = groups.last, last.prefix == prompt {
                groups[groups.count - 1].branches.append(branch)
                groups[groups.count - 1].members.append(i)
            } else {
                groups.append((prompt, [branch], [i]))
            }
        }
        tokens = TokenBatch.sharedPrefix(groups.map { ($0.prefix, $0.branches) })
        var logitRows: [Int] = [], labels: [Int] = [], tokenOf: [(member: Int, index: Int)] = []
        let T = tokens.length
        for (g, group) in groups.enumerated() {
            let used = group.prefix.count + group.branches.reduce(0) { $0 + $1.count }
            let promptEnd = g * T + (T - used) + group.prefix.count   // first branch row
            var branchStart = promptEnd
            for (branch, member) in zip(group.branches, group.members) {
                for (j, token) in completions[member].enumerated() {
                    logitRows.append(j == 0 ? promptEnd - 1 : branchStart + j - 1)
                    labels.append(token)
                    tokenOf.append((member, j))
                }
                branchStart += branch.count
            }
        }
        self.logitRows = logitRows; self.labels = labels; self.tokenOf = tokenOf
    }
}
