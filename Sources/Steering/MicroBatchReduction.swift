import Cluster
import Foundation
import Model

/// What a micro-batch measured besides its gradient, as it travels between ranks.
protocol MicroBatchPart {
    func write(to message: inout MessageWriter)
    init(from message: inout MessageReader) throws
}

/// The gradient pass of a step over its micro-batches, in one process or spread over the
/// ranks of an MPI job, with the same bits either way (docs/scaling.md): each micro-batch's
/// gradient is computed from zero and the step's gradient is their sum in micro-batch order,
/// ((g₀ + g₁) + g₂) …, whichever rank computed each.
enum MicroBatchReduction {
    /// Runs `body(k)`, which accumulates micro-batch k's gradients into `parameters` (zero on
    /// entry, as `OptimizationLoop.step` leaves them), for k in 0..<count: all of them in one
    /// process, a contiguous share per rank under MPI. Leaves the ordered sum in the
    /// parameters' gradients on every rank and returns every micro-batch's part in order.
    static func run<Part: MicroBatchPart>(count: Int, parameters: [Parameter], group: ProcessGroup,
                                          _ body: (Int) throws -> Part) throws -> [Part] {
        guard group.isDistributed else {
            // Micro-batch k > 0 goes into zeroed gradients; the sum so far is added back after.
            var parts: [Part] = []
            var sumSoFar: [Float] = []
            for k in 0..<count {
                if k > 0 {
                    flatten(parameters, into: &sumSoFar)
                    parameters.zeroGradients()
                }
                parts.append(try body(k))
                if k > 0 { add(sumSoFar, into: parameters) }
            }
            return parts
        }
        // This rank's micro-batches, each with its gradient, as one message.
        var message = MessageWriter()
        let mine = group.share(of: count)
        message.append(Int64(mine.count))
        for k in mine {
            parameters.zeroGradients()
            let part = try body(k)
            part.write(to: &message)
            var gradient: [Float] = []
            flatten(parameters, into: &gradient)
            message.append(gradient)
        }
        // Rank 0 adds them in micro-batch order (rank r holds the r-th contiguous share) and
        // sends the sum and every part to all.
        var total: [Float]? = nil
        var allParts = MessageWriter()
        allParts.append(Int64(count))
        try group.gather(message.data) { _, data in
            var reader = MessageReader(data)
            for _ in 0..<Int(try reader.read(Int64.self)) {
                let part = try Part(from: &reader)
                part.write(to: &allParts)
                let gradient: [Float] = try reader.readArray()
                if total == nil { total = gradient } else {
                    total!.withUnsafeMutableBufferPointer { t in for i in 0..<gradient.count { t[i] += gradient[i] } }
                }
            }
        }
        if group.isRoot {
            if total == nil { total = []; flatten(parameters, into: &total!) }
            allParts.append(total!)
        }
        var reader = MessageReader(try group.broadcast(allParts.data))
        let parts = try (0..<Int(try reader.read(Int64.self))).map { _ in try Part(from: &reader) }
        assign(try reader.readArray(), to: parameters)
        return parts
    }

    /// Every parameter's gradient, one after another, written over `buffer` in place (its
    /// storage is reused from the second micro-batch on: no second copy of the gradient).
    static func flatten(_ parameters: [Parameter], into buffer: inout [Float]) {
        let total = parameters.reduce(0) { $0 + $1.gradient.count }
        if buffer.count != total { buffer = [Float](repeating: 0, count: total) }
        buffer.withUnsafeMutableBufferPointer { out in
            var offset = 0
            for p in parameters {
                (out.baseAddress! + offset).update(from: p.gradient.data, count: p.gradient.count)
                offset += p.gradient.count
            }
        }
    }

    /// gradient = values, parameter by parameter in `flatten`'s order.
    static func assign(_ values: [Float], to parameters: [Parameter]) {
        var offset = 0
        for p in parameters {
            values.withUnsafeBufferPointer { p.gradient.mutableData.update(from: $0.baseAddress! + offset, count: p.gradient.count) }
            offset += p.gradient.count
        }
    }

    /// gradient += values, parameter by parameter in `flatten`'s order.
    static func add(_ values: [Float], into parameters: [Parameter]) {
        var offset = 0
        for p in parameters {
            let g = p.gradient.mutableData
            for i in 0..<p.gradient.count { g[i] += values[offset + i] }
            offset += p.gradient.count
        }
    }
}
