import ArgumentParser
import CLICommon
import Cluster
import Foundation
import Model
import Steering
import Tokenizers

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train by online RL: sample groups of completions, reward correct final answers, update.",
        discussion: """
        Each step samples --group completions for each of --prompts-per-step problems \
        with the trainable attached, rewards each (+1 / −1 for its final answer: the \
        last \\boxed{}, else "#### N", else "The answer is N"; see --reward), turns \
        rewards into advantages and takes --iterations \
        AdamW steps on the objective:

          ℓ  = −min(ρ A, clip(ρ, 1 − ε_low, 1 + ε_high) A) + β k3
          ρ  = π / π_old;  k3 = π_ref/π − log(π_ref/π) − 1
               (π_ref: the model without the trainable)

        --objective presets (advantage A; reduction of the ℓ over
        completion tokens):
          grpo     A = (r − group mean) / (group std + 1e-4);
                   mean per sequence, then over sequences
          bnpo     A as grpo; per micro-batch sum ÷ its tokens,
                   averaged over micro-batches
          dr-grpo  A = r − group mean; sum ÷ (sequences × --max-new)
          dapo     A as grpo; sum ÷ completion tokens in the step
          rloo     A = r − mean of the group's other rewards;
                   sum ÷ completion tokens in the step
                   (the published steering code; the default)
        --advantage, --scaling and --reduction override a preset's parts.

        --objective sft trains by supervised fine-tuning instead: mean cross-entropy \
        over the completion tokens of --prompts-per-step {"prompt", "completion"} \
        records per step (the completion followed by end-of-sequence).

        --method (what is trained; the count is printed before training):
          vectors   s_l added to block l's output (--layers)
          full      every weight
          lora      ΔW = (α/r) B A on --targets; --rank (8), --alpha (r)
          loraxs    ΔW = U_r Σ_r R V_rᵀ, exact SVD of W; only R [r, r]
          tinylora  ΔW = U_r Σ_r (Σ_i v_i P_i) V_rᵀ, P [u, r, r] fixed
                    random; v [u] trained; --tie N modules share one v
                    (all: one v in all), grouped by --tie-by depth|type
          loreft    h + Rᵀ(W h + b − R h) at --positions of --layers'
                    outputs, R orthonormal; also noreft, direft,
                    nodireft, consreft, lobireft (docs/reft.md)

        The run directory gets config.json, the adapter (vectors.bin [L·d] \
        float32, adapter.safetensors, or model/ for --method full), best/ (the parameters with the best \
        mean@k), training.h5 (one row per step), eval.h5 and \
        checkpoint.safetensors. Re-running the same command resumes from the last \
        checkpoint; the result is bit-identical to an uninterrupted run.
        """)

    @Option(help: "What to train: vectors (one steering vector per block), full (every weight), lora, loraxs, tinylora, or a ReFT intervention: loreft, noreft, direft, nodireft, consreft, lobireft.") var method: String = "vectors"
    @Option(help: "Training problems: .jsonl lines {\"id\", \"prompt\", \"answer\", \"task\"?}; with --objective sft {\"prompt\", \"completion\"}.") var problems: String
    @Option(help: "Held-out problems for evaluation (greedy accuracy, mean@k, pass@k).") var eval: String?
    @Option(help: "Run directory.") var out: String
    @Option(help: "Hugging Face model directory or GGUF file (default: the embedded model).") var model: String?
    @Option(help: "grpo, bnpo, dr-grpo, dapo, rloo, or sft (supervised).") var objective: String = "rloo"
    @Option(help: "Override the preset's advantage: group-mean or rloo.") var advantage: String?
    @Option(help: "Override the preset's std scaling: group, batch or none.") var scaling: String?
    @Option(help: "Override the preset's reduction: grpo, bnpo, dr-grpo or dapo.") var reduction: String?
    @Option(help: "Samples per prompt.") var group: Int = 16
    @Option(help: "Prompts per step.") var promptsPerStep: Int = 16
    @Option(help: "Optimisation steps (each: one round of rollouts).") var steps: Int = 100
    @Option(help: "Learning rate (constant after a 3% warm-up).") var lr: Float = 1e-3
    @Option(help: "β of the k3 KL term against the model without the trainable.") var kl: Double = 0
    @Option(help: "Global gradient-norm clip (0 = off).") var clip: Float = 2
    @Option(help: "Ratio clipping ε_low.") var epsilonLow: Double = 0.2
    @Option(help: "Ratio clipping ε_high.") var epsilonHigh: Double = 0.2
    @Option(help: "Updates per round of rollouts (ratios ≠ 1 from the second on).") var iterations: Int = 1
    @Option(help: "Maximum new tokens per completion.") var maxNew: Int = 64
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(help: "Nucleus sampling mass (1 = off).") var topP: Float = 1
    @Option(help: "Keep the k most likely tokens (0 = off).") var topK: Int = 0
    @Option(help: "Blocks that carry a vector, an adapter or an intervention (on their output), e.g. 1,2,3 or all (default: all).") var layers: String?
    @Option(help: "ReFT: prompt positions intervened on, as pyreft writes them: f7+l7 (first 7 and last 7), f3, l1.") var positions: String = "f7+l7"
    @Flag(help: "ReFT: one intervention for the first and the last positions (pyreft's share_weights), not one each.") var shareWeights = false
    @Option(help: "ReFT: train and apply only rows lo..hi−1 of every intervention, e.g. 0-2 (a subspace, for composition).") var subspace: String?
    @Option(name: .customLong("init"), help: "ReFT: start from this ReFT run's values (same kind, blocks, positions and rank).") var initFrom: String?
    @Option(help: "Adapted linears: all-linear or a list of q,k,v,o,gate,up,down.") var targets: String = "all-linear"
    @Option(help: "Adapter or intervention rank r (default: 8 for lora, 2 for loraxs and tinylora, 4 for ReFT).") var rank: Int?
    @Option(help: "LoRA's α: ΔW = (α/r) B A (default: r).") var alpha: Float?
    @Option(help: "TinyLoRA's trainable values per group.") var u: Int = 13
    @Option(help: "TinyLoRA: modules sharing one v (1: none; all: one v for the whole model).") var tie: String = "1"
    @Option(help: "TinyLoRA's grouping of tied modules: depth (neighbours in model order) or type.") var tieBy: String = "depth"
    @Option(help: "Reward: pm1 (+1 / −1, default) or 01 (1 / 0); add ',format' for a 0.1 \\boxed{} bonus.") var reward: String = "pm1"
    @Flag(help: "Skip groups whose rewards are all equal and draw more prompts (DAPO dynamic sampling).") var skipZeroSpread = false
    @Flag(help: "Run the training pass over groups whose rewards are all equal too. With --kl 0 their advantage is 0 and they change nothing, so by default they are left out; this is for comparing a step's cost with trainers that compute them.")
    var trainFlatGroups = false
    @Option(help: "Prompt template: auto, raw, chatml, llama3, or text with {prompt}.") var template: String = "auto"
    @Option(help: "System line of the chat templates (default: the published steering code's boxed-answer line; template: the model's own template's default line).")
    var system: String = PromptTemplate.defaultSystem
    @Option(help: "Sequences per training forward/backward pass.") var microBatch: Int = 16
    @Option(help: "Sequences sampled together in one KV cache (memory grows with it; the samples do not depend on it).") var rolloutBatch: Int = 128
    @Option(help: "Evaluate every this many steps (0 = start and end only).") var evalEvery: Int = 0
    @Option(name: .customShort("k"), help: "Samples per problem for mean@k and pass@k.") var samples: Int = 8
    @Option(help: "Checkpoint every this many steps.") var checkpointEvery: Int = 10
    @Option(help: "Seed: data order and every sample.") var seed: UInt64 = 0

    func run() throws {
        guard let method = TrainingMethod(rawValue: method) else {
            throw WorkbenchError("--method: '\(method)' is not one of \(TrainingMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard var objectiveValue = objective == "sft" ? PolicyObjective.preset("dapo") : PolicyObjective.preset(objective) else {
            throw WorkbenchError("--objective: '\(objective)' is not one of \(PolicyObjective.presetNames.joined(separator: ", ")) or sft")
        }
        if let advantage {
            guard let a = AdvantageEstimator(rawValue: advantage) else { throw WorkbenchError("--advantage: '\(advantage)' is not group-mean or rloo") }
            objectiveValue.advantage = a
        }
        if let scaling {
            guard let s = AdvantageScaling(rawValue: scaling) else { throw WorkbenchError("--scaling: '\(scaling)' is not group, batch or none") }
            objectiveValue.scaling = s
        }
        if let reduction {
            guard let r = LossReduction(rawValue: reduction) else { throw WorkbenchError("--reduction: '\(reduction)' is not grpo, bnpo, dr-grpo or dapo") }
            objectiveValue.reduction = r
        }
        guard lr > 0, lr.isFinite, clip >= 0 else { throw WorkbenchError("--lr must be a positive number and --clip ≥ 0") }
        guard epsilonLow >= 0, epsilonHigh >= 0, kl >= 0 else { throw WorkbenchError("--epsilon-low, --epsilon-high and --kl must be ≥ 0") }
        guard maxNew >= 1, microBatch >= 1, rolloutBatch >= 1, samples >= 0, checkpointEvery >= 0, evalEvery >= 0 else {
            throw WorkbenchError("--max-new, --micro-batch and --rollout-batch must be ≥ 1; -k, --checkpoint-every and --eval-every ≥ 0")
        }
        objectiveValue.clipLow = epsilonLow
        objectiveValue.clipHigh = epsilonHigh
        objectiveValue.klCoefficient = kl
        var settings = RLSettings()
        settings.steps = steps; settings.promptsPerStep = promptsPerStep; settings.groupSize = group
        settings.learningRate = lr; settings.clipNorm = clip; settings.iterations = iterations
        settings.sampling.maxNewTokens = maxNew; settings.sampling.temperature = temperature
        settings.sampling.topP = topP; settings.sampling.topK = topK; settings.sampling.batchSize = rolloutBatch
        try settings.sampling.sampling.validate()
        settings.microBatchSize = microBatch; settings.skipZeroSpread = skipZeroSpread; settings.seed = seed
        settings.trainZeroAdvantages = trainFlatGroups

        let (source, loaded) = try openModel(model)
        var m = loaded
        if method == .full {   // trained in place: weights in owned memory, the file mapping released
            m = TransformerModel(config: m.config, weights: m.weights.ownedCopy(), directory: m.directory, storedDTypes: m.storedDTypes)
        }
        let tokenizer = try source.loadTokenizer()
        var adapter: AdapterSettings?
        if let kind = method.adapterKind {
            guard let order = TyingOrder(rawValue: tieBy) else { throw WorkbenchError("--tie-by: '\(tieBy)' is not depth or type") }
            guard let tied = tie == "all" ? 0 : Int(tie), tied >= 0 else { throw WorkbenchError("--tie: '\(tie)' is not a count of modules or all") }
            adapter = AdapterSettings(kind: kind, targets: try AdapterSettings.parseTargets(targets), layers: try layers.flatMap(parseLayers),
                                      rank: rank, alpha: alpha, u: u, tie: tied, tyingOrder: order, seed: seed)
        }
        var reft: ReFTSettings?
        if method.reftKind == nil, subspace != nil || initFrom != nil { throw WorkbenchError("--subspace and --init apply to ReFT methods") }
        if let kind = method.reftKind {
            let (first, last) = try ReFTSettings.parsePositions(positions)
            reft = ReFTSettings(kind: kind, layers: try layers.flatMap(parseLayers) ?? Array(0..<m.config.layerCount),
                                first: first, last: last, shareWeights: shareWeights, rank: rank ?? 4, seed: seed,
                                subspace: try subspace.map(ReFTSettings.parseSubspace), initialisedFrom: initFrom)
        }
        var runSpec = TrainingRun(method: method, layers: method.adapterKind == nil && method.reftKind == nil ? try layers.flatMap(parseLayers) : nil,
                                  adapter: adapter, reft: reft,
                                  objectiveName: objective, objective: objectiveValue, settings: settings,
                                  template: try PromptTemplate.parse(template, system: system, chatTemplate: try source.chatTemplate()),
                                  rewards: try parseRewards(reward), problemsPath: problems, evalPath: eval,
                                  evalEvery: evalEvery, evalSamples: samples, checkpointEvery: checkpointEvery, out: out)
        runSpec.group = ProcessGroup.world
        let start = Date()
        var firstStep: Int?
        try runSpec.run(model: m, tokenizer: tokenizer) { event in
            switch event {
            case .parameters(let n): printError("\(method.rawValue): \(formatCount(n)) trainable parameter\(n == 1 ? "" : "s"); objective \(objective)")
            case .resumed(let s): printError("resumed at step \(s)")
            case .step(let x, let total, let orthonormality):
                if firstStep == nil { firstStep = x.step - 1 }
                let done = x.step - firstStep!, elapsed = Date().timeIntervalSince(start)
                let eta = elapsed / Double(done) * Double(total - x.step)
                let filled = 16 * x.step / max(total, 1)
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 16 - filled)
                if objective == "sft" {
                    printError(String(format: "[%@] eta %.0f s  ", bar, eta) + String(format: "step %d/%d  loss %.4f  token acc %.3f  len %.1f [%d, %d]  H %.3f  |g| %.3f  lr %.1e  %.1f s  %.0f tok/s",
                                      x.step, total, x.loss, x.accuracy, x.completionMean, Int(x.completionMin), Int(x.completionMax),
                                      x.entropy, x.gradientNorm, x.learningRate, x.trainingSeconds, x.trainingTokensPerSecond)
                               + (orthonormality.map { String(format: "  |RRᵀ−I| %.1e", $0) } ?? ""))
                    return
                }
                printError(String(format: "[%@] eta %.0f s  ", bar, eta) + String(format: "step %d/%d  reward %+.3f ± %.3f  acc %.3f  flat %.2f  len %.1f [%d, %d]  trunc %.2f  H %.3f  KL %.2e  clip %.3f  |g| %.3f  lr %.1e  %.1f+%.1f s  %.0f tok/s",
                                  x.step, total, x.rewardMean, x.rewardStd, x.accuracy, x.zeroSpreadFraction, x.completionMean,
                                  Int(x.completionMin), Int(x.completionMax), x.truncatedFraction, x.entropy, x.kl,
                                  x.clippedFraction, x.gradientNorm, x.learningRate, x.rolloutSeconds, x.trainingSeconds,
                                  x.rolloutTokensPerSecond) + (orthonormality.map { String(format: "  |RRᵀ−I| %.1e", $0) } ?? ""))
            case .evaluated(let s, let e):
                printError(String(format: "eval at step %d: greedy %.3f  mean@%d %.3f  pass@%d %.3f", s, e.greedyAccuracy, e.k,
                                  e.meanAtK, e.k, e.passAtK))
            case .saved(let path):
                let adapterFile = method == .full ? "model/" : method == .vectors ? "vectors.bin"
                    : method.reftKind != nil ? ReFTInterventions.runFileName : WeightAdapter.runFileName
                print("wrote \(path): config.json, \(adapterFile), training.h5" + (eval == nil ? "" : ", eval.h5, best/") + ", checkpoint.safetensors")
            }
        }
    }
}

/// "1,2,5" → [1, 2, 5]; "all" → nil.
func parseLayers(_ text: String) throws -> [Int]? {
    if text == "all" { return nil }
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let layers = try parts.map { p -> Int in
        guard let l = Int(p), l >= 0 else { throw WorkbenchError("--layers: '\(p)' is not a block index") }
        return l
    }
    guard !layers.isEmpty else { throw WorkbenchError("--layers: no block given") }
    return layers
}

/// `pm1` / `01`, optionally `,format`.
func parseRewards(_ spec: String) throws -> [any Reward] {
    var out: [any Reward] = []
    for part in spec.split(separator: ",").map(String.init) {
        switch part {
        case "pm1": out.append(ExactAnswerReward(correct: 1, incorrect: -1))
        case "01": out.append(ExactAnswerReward(correct: 1, incorrect: 0))
        case "format": out.append(FormatReward())
        default: throw WorkbenchError("--reward: '\(part)' is not pm1, 01 or format")
        }
    }
    guard out.contains(where: { $0 is ExactAnswerReward }) else { throw WorkbenchError("--reward needs pm1 or 01") }
    return out
}
