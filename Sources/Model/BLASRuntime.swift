import CBLAS
import Foundation

/// OpenBLAS built with DYNAMIC_ARCH picks its kernels ("core type") once, when the
/// library is loaded. Debian's 0.3.21 does not recognise some recent CPUs and
/// falls back to the "Prescott" (SSE3) kernels, about 4x slower for sgemm on an
/// AVX-512 machine. The choice can only be overridden through the environment
/// variable OPENBLAS_CORETYPE before the library loads, so a process that finds a
/// bad choice sets the variable and re-executes itself (see `ensureFastKernels`).
public enum BLASRuntime {
    /// The kernel family OpenBLAS chose for this process, e.g. "SkylakeX".
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Build-time configuration string of the loaded OpenBLAS.
    public static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p).trimmingCharacters(in: .whitespaces)
    }

    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// The workbench splits its work across the cores itself (`Parallel`) and asks
    /// OpenBLAS for one thread per call. Two thread pools on two cores fight:
    /// OpenBLAS's idle workers spin on sched_yield while the workbench's run, which
    /// measurably slowed attention and SwiGLU (prefill 1×512: 201 → 227 tokens/s on
    /// the Qwen2.5-0.5B shape). Evaluated once, before the first product.
    package static let singleThreadedCalls: Void = {
        openblas_set_num_threads(1)
    }()

    /// Instruction-set features of this CPU that matter for the kernel choice.
    package struct CPUFeatures: Equatable {
        package var avx2: Bool
        package var avx512f: Bool
        package var avx512bw: Bool
        package var avx512vl: Bool
        public var hasAVX512Kernels: Bool { avx512f && avx512bw && avx512vl }
        package init(avx2: Bool, avx512f: Bool, avx512bw: Bool, avx512vl: Bool) {
            self.avx2 = avx2; self.avx512f = avx512f; self.avx512bw = avx512bw; self.avx512vl = avx512vl
        }
    }

    /// Reads the CPU's flags from /proc/cpuinfo (Linux); all false elsewhere.
    package static func cpuFeatures(cpuinfo: String? = nil) -> CPUFeatures {
        let text = cpuinfo ?? ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
        var flags = Set<Substring>()
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            if let colon = line.firstIndex(of: ":") {
                flags = Set(line[line.index(after: colon)...].split(separator: " "))
            }
            break
        }
        return CPUFeatures(avx2: flags.contains("avx2"), avx512f: flags.contains("avx512f"),
                           avx512bw: flags.contains("avx512bw"), avx512vl: flags.contains("avx512vl"))
    }

    /// Kernel families that use AVX-512 / AVX2 well for sgemm.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    static let avx2Cores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]

    /// The core type to force, or nil when OpenBLAS's own choice is already good.
    package static func preferredCoreType(current: String, cpu: CPUFeatures) -> String? {
        let core = current.lowercased()
        if cpu.hasAVX512Kernels {
            return avx512Cores.contains(core) ? nil : "SkylakeX"
        }
        if cpu.avx2 {
            return avx2Cores.contains(core) ? nil : "Haswell"
        }
        return nil
    }

    /// Environment variable set on re-execution to the core name OpenBLAS first
    /// chose; its presence also stops a second attempt.
    static let reexecMarker = "WORKBENCH_BLAS_REEXEC"

    /// For tests of the start-up switch: pretend OpenBLAS chose this core.
    static let simulatedCoreVariable = "WORKBENCH_SIMULATE_BLAS_CORE"

    /// The kernel OpenBLAS picked on its own when the workbench replaced it at
    /// start-up, nil when it kept OpenBLAS's choice.
    package static var replacedCore: String? {
        ProcessInfo.processInfo.environment[reexecMarker]
    }

    /// Called first thing by every executable. If OpenBLAS chose slow kernels for
    /// this CPU and the user has not chosen a core type, re-executes the current
    /// program with OPENBLAS_CORETYPE set, so every command gets fast kernels
    /// without the user doing anything. Returns normally when nothing is needed
    /// or when re-execution is impossible (the program then runs on as it is).
    package static func ensureFastKernels() {
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil || env[reexecMarker] != nil { return }
        let current = env[simulatedCoreVariable] ?? coreName
        guard let wanted = preferredCoreType(current: current, cpu: cpuFeatures()) else { return }
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        setenv(reexecMarker, current, 1)
        let args = CommandLine.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cArgs.append(nil)
        execv("/proc/self/exe", cArgs)
        // execv only returns on failure: carry on with the kernels we have.
        for p in cArgs { free(p) }
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(reexecMarker)
    }

    /// Measures the runtime's matrix-product throughput in GFLOP/s on square
    /// matrices of size `n` (x · Wᵀ split across the cores, as the model runs it).
    public static func measureSgemmGFLOPS(n: Int = 1024, repeats: Int = 5) -> Double {
        let a = [Float](repeating: 0.001, count: n * n)
        let b = [Float](repeating: 0.002, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        func run() {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        linearForward(pa.baseAddress!, rows: n, weight: pb.baseAddress!, inFeatures: n,
                                      outFeatures: n, bias: nil, into: pc.baseAddress!)
                    }
                }
            }
        }
        run()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            run()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, dt)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }
}
