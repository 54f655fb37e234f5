import Foundation
import Model

/// Worked procedures: a question, its step-by-step solution and the answer.
struct WorkedProblem {
    var key: String       // identifies the problem's numbers, to keep queries out of the corpus
    var question: String
    var steps: String
    var answer: String
    var task: Procedure
    var numbers: [Int]

    /// The problem as a document: prose, maths, code or Q&A.
    func render(style: Int, g: inout CorpusRandom) -> (String, String) {
        switch style {
        case 0: return (question + " " + steps, "math")
        case 1: return ("Q: " + question + "\nA: " + steps, "stackexchange")
        case 2: return (task.code(numbers: numbers, answer: answer), "code")
        default:
            let intro = g.pick(["Worked example.", "Exercise.", "Example:", "Practice problem."])
            return (intro + " " + question + " " + steps, "math")
        }
    }
}

enum Procedure: String, CaseIterable {
    case arithmetic, slope, linear

    func draw(_ g: inout CorpusRandom) -> WorkedProblem {
        switch self {
        case .arithmetic:
            let a = g.range(10...99), b = g.range(10...99)
            let first = a + b
            let c = g.range(2...(min(first, 99)))
            let second = g.below(2) == 0
            let result = second ? first + c : first - c
            let op2 = second ? "+" : "-"
            return WorkedProblem(key: "arith \(a) \(b) \(op2) \(c)", question: "Compute \(a) + \(b) \(op2) \(c).",
                                 steps: "First, \(a) + \(b) = \(first). Then, \(first) \(op2) \(c) = \(result). The answer is \(result).",
                                 answer: String(result), task: self, numbers: [a, b, c, second ? 1 : 0])
        case .slope:
            let x1 = g.range(0...20), y1 = g.range(0...20), dx = g.range(1...9), m = g.range(-5...5)
            let x2 = x1 + dx, y2 = y1 + m * dx
            return WorkedProblem(key: "slope \(x1) \(y1) \(x2) \(y2)",
                                 question: "Find the slope of the line through (\(x1), \(y1)) and (\(x2), \(y2)).",
                                 steps: "The slope is (\(y2) - \(y1)) / (\(x2) - \(x1)) = \(y2 - y1) / \(dx) = \(m). The answer is \(m).",
                                 answer: String(m), task: self, numbers: [x1, y1, x2, y2])
        case .linear:
            let a = g.range(2...9), x = g.range(1...20), b = g.range(1...50)
            let c = a * x + b
            return WorkedProblem(key: "linear \(a) \(b) \(c)", question: "Solve \(a)x + \(b) = \(c).",
                                 steps: "Subtract \(b) from both sides: \(a)x = \(c - b). Divide by \(a): x = \(x). The answer is \(x).",
                                 answer: String(x), task: self, numbers: [a, b, c])
        }
    }

    func code(numbers n: [Int], answer: String) -> String {
        switch self {
        case .arithmetic:
            let op = n[3] == 1 ? "+" : "-"
            return "def compute(a, b, c):\n    total = a + b\n    return total \(op) c\n\nprint(compute(\(n[0]), \(n[1]), \(n[2])))  # \(answer)"
        case .slope:
            return "def slope(x1, y1, x2, y2):\n    return (y2 - y1) // (x2 - x1)\n\nprint(slope(\(n[0]), \(n[1]), \(n[2]), \(n[3])))  # \(answer)"
        case .linear:
            return "def solve(a, b, c):\n    # a * x + b = c\n    return (c - b) // a\n\nprint(solve(\(n[0]), \(n[1]), \(n[2])))  # \(answer)"
        }
    }
}

/// Two-step word problems whose solution ends in \boxed{N} (the RL problem format).
enum WordProblem {
    static let people = ["Mira", "Toren", "Ilsa", "Bram", "Sela", "Orrin", "Dalia", "Pell"]
    static let things = ["apples", "shells", "coins", "books", "stamps", "marbles", "pears", "ribbons"]

    static func draw(_ g: inout CorpusRandom) -> (key: String, question: String, solution: String, answer: String) {
        let who = g.pick(people), what = g.pick(things)
        let a = g.range(5...60), b = g.range(5...40)
        let gain = g.below(2) == 0
        let c = g.range(1...(a + b - 1))
        let first = a + b
        let result = gain ? first + c : first - c
        let verb2 = gain ? "receives \(c) more" : "gives \(c) away"
        let question = "\(who) has \(a) \(what) and finds \(b) more. Then \(who) \(verb2). How many \(what) does \(who) have now?"
        let solution = "\(a) + \(b) = \(first). \(first) \(gain ? "+" : "-") \(c) = \(result). The answer is \\boxed{\(result)}."
        return ("word \(a) \(b) \(gain ? "+" : "-") \(c)", question, solution, String(result))
    }
}
